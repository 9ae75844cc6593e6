# syntax=docker/dockerfile:1
FROM busybox
RUN <<EOF
echo one > /h.txt
echo two >> /h.txt
EOF
COPY <<-"CONF" /etc/app.conf
	key=$HOME
CONF
RUN <<A cat > /a && <<B cat > /b
first
A
second
B
