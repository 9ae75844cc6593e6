FROM busybox
ENTRYPOINT ["echo", "ep:"]
CMD ["default"]
