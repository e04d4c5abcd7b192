# Dockerfile - tsmd on debian:12-slim, installed from the same Debian package
# that `cpack -G DEB` makes (scripts/test builds and checks that package).
#   docker build -t tsmd .
#   docker run -e TSMD_KAFKA_BROKERS=kafka:9092 -e TSMD_REDIS_HOST=redis -p 8080:8080 tsmd
# The broker must be given: TSMD_KAFKA_BROKERS is empty in the image, which
# tsmd refuses with exit status 2, so that a container that misses its
# setting fails at once instead of starting the embedded development broker.

FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake pkg-config g++ git \
      dpkg-dev file libuv1-dev librdkafka-dev libmsgpack-dev libhiredis-dev libjansson-dev \
      libsimdjson-dev libhttp-parser-dev libsodium-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTSMD_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" --target tsmd \
 && cd /build && cpack -G DEB

FROM debian:12-slim
COPY --from=build /build/tsmd_*.deb /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends /tmp/tsmd_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/tsmd_*.deb
# The package created the tsmd system user; the image runs as it.
USER tsmd
ENV TSMD_HTTP_LISTEN=0.0.0.0:8080 \
    TSMD_KAFKA_BROKERS=
EXPOSE 8080
# Liveness only (/healthz); load balancers should ask /readyz themselves.
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r s <&3 && [[ $s == *' 200 '* ]]"]
ENTRYPOINT ["/usr/bin/tsmd", "--config", "/etc/tsmd/tsmd.conf"]
