# taskd container image: a Debian 12 build stage, a slim runtime stage.
#
#   docker build -t taskd .
#   docker run -v taskd-data:/var/lib/taskd -v taskd-run:/run/taskd taskd
#
# taskd listens on the unix socket /run/taskd/taskd.sock inside the image;
# share /run/taskd with clients (or a sidecar). TCP with TLS or a token
# arrives with the server issue.
FROM debian:bookworm-slim AS build
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libboost-dev libspdlog-dev nlohmann-json3-dev libsqlite3-dev libcli11-dev libtomlplusplus-dev \
      libjemalloc-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt CMakePresets.json ./
COPY cmake cmake
COPY proto proto
COPY core core
COPY server server
COPY client client
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTASKD_BUILD_TESTS=OFF \
      -DCMAKE_INSTALL_PREFIX=/usr \
    && cmake --build /build --target taskd taskctl \
    && DESTDIR=/out cmake --install /build --strip

FROM debian:bookworm-slim
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libsqlite3-0 libspdlog1.10 libjemalloc2 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/taskd --shell /usr/sbin/nologin taskd \
    && install -d -o taskd -g taskd -m 0700 /var/lib/taskd /run/taskd
COPY --from=build /out/usr/bin/taskd /out/usr/bin/taskctl /usr/bin/
USER taskd
ENV TASKD_DATA_DIR=/var/lib/taskd TASKD_SOCKET=/run/taskd/taskd.sock
VOLUME ["/var/lib/taskd", "/run/taskd"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/taskd"]
