FROM busybox
ONBUILD RUN echo triggered > /onbuild.txt
ONBUILD COPY . /src
HEALTHCHECK --interval=5s --timeout=3s CMD wget -q -O- http://localhost/ || exit 1
STOPSIGNAL SIGTERM
VOLUME ["/data", "/logs"]
