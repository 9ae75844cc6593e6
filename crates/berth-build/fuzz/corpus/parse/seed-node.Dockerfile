FROM busybox
ENV APP_ENV=production NODE_VERSION=20
RUN mkdir -p /home/app
WORKDIR /home/app
COPY --chown=nobody:nogroup . /home/app
USER nobody
CMD ["node", "index.js"]
