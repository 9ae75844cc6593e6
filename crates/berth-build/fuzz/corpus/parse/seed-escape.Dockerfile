# escape=`
FROM busybox
ENV MSG=a`
b
RUN echo "hello `
    world" && `
    echo done
SHELL ["/bin/sh", "-c"]
