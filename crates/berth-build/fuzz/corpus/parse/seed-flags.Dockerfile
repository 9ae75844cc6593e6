FROM --platform=linux/amd64 busybox
MAINTAINER someone <a@b.c>
ADD --chown=1000:1000 --chmod=640 http://example.com/a.tar.gz /opt/
ADD archive.tar.xz /opt/src/
COPY *.txt dir?/ /dst/
RUN --network=none ["sh", "-c", "echo \"quoted $PATH\" 'single $X'"]
RUN --mount=type=cache,target=/root/.cache true
EXPOSE 80/tcp 53/udp
USER 1000:1000
ENV A=1 \
    B="two words" \
    C=${A:-x}${B:+y}\$literal
ARG http_proxy
