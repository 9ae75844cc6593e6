ARG BASE=busybox
FROM ${BASE} AS builder
ARG VERSION=1.0
RUN echo artifact-${VERSION:-none} > /out.txt
FROM builder AS test
RUN test -f /out.txt
FROM scratch
COPY --from=builder /out.txt /app/out.txt
LABEL version="${VERSION:+set}" maintainer=me
