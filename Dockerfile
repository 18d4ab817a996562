# syntax=docker/dockerfile:1

# One image for every binary: Kubernetes picks the service with `command` (["auth-api"],
# ["chat-gateway"], ["notifier"], ["auth-api", "migrate"], ...); without one it runs the all-in-one
# chat-suite on the embedded default, so `docker run -p 8080:8080 IMAGE` works as-is.

# The full (not slim) image: the bundled librdkafka is built with make and a C compiler
# against the image's libssl-dev and pkg-config, and libz-sys builds zlib statically, so
# nothing has to be installed. HTTP and database TLS is rustls; librdkafka's TLS is the
# system's OpenSSL 3, which the runtime image (distroless/cc, Debian 12) carries as libssl3.
FROM rust:1.95-bookworm AS builder
WORKDIR /build

# Dependencies get a layer of their own, rebuilt only when a manifest or the lock file changes.
# Cargo loads the whole workspace, so every member and every target a manifest declares
# (auth-api's relay test, the benchmarks) must exist: empty stubs stand in for the sources
# (scripts/check-deploy checks the list against the manifests).
COPY Cargo.toml Cargo.lock ./
COPY shared/Cargo.toml shared/
COPY migrations/Cargo.toml migrations/
COPY testkit/Cargo.toml testkit/
COPY services/auth-api/Cargo.toml services/auth-api/
COPY services/user-search/Cargo.toml services/user-search/
COPY services/chat-gateway/Cargo.toml services/chat-gateway/
COPY services/notifier/Cargo.toml services/notifier/
COPY services/chat-suite/Cargo.toml services/chat-suite/
RUN mkdir -p shared/src migrations/src testkit/src \
        services/auth-api/src services/auth-api/tests/relay services/auth-api/benches \
        services/user-search/src services/user-search/benches \
        services/chat-gateway/src services/chat-gateway/benches \
        services/notifier/src services/notifier/benches services/chat-suite/src \
    && touch shared/src/lib.rs migrations/src/lib.rs testkit/src/lib.rs \
        services/auth-api/src/lib.rs services/user-search/src/lib.rs services/chat-gateway/src/lib.rs \
        services/notifier/src/lib.rs services/auth-api/tests/relay/main.rs \
        services/auth-api/benches/login.rs services/user-search/benches/lookup.rs \
        services/user-search/benches/verification.rs services/chat-gateway/benches/delivery.rs \
        services/chat-gateway/benches/groups.rs services/chat-gateway/benches/connections.rs \
        services/notifier/benches/push.rs \
    && for bin in auth-api user-search chat-gateway notifier chat-suite; do \
        printf 'fn main() {}\n' > "services/${bin}/src/main.rs"; \
    done \
    && cargo build --profile dist --locked -p auth-api -p user-search -p chat-gateway -p notifier -p chat-suite

# testkit is a dev-dependency only: its stub is enough, and its edits do not bust this layer.
COPY shared shared
COPY migrations migrations
COPY services services
# COPY keeps the files' modification times, which may be older than the stub build; cargo
# judges path crates by mtime, so without the touch it would ship the stubs.
RUN touch shared/src/lib.rs migrations/src/lib.rs \
        services/auth-api/src/lib.rs services/user-search/src/lib.rs services/chat-gateway/src/lib.rs \
        services/notifier/src/lib.rs services/auth-api/src/main.rs services/user-search/src/main.rs \
        services/chat-gateway/src/main.rs services/notifier/src/main.rs services/chat-suite/src/main.rs \
    && cargo build --profile dist --locked -p auth-api -p user-search -p chat-gateway -p notifier -p chat-suite

# glibc, libgcc and CA certificates, no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="chat-suite" \
      org.opencontainers.image.description="chat-suite services: auth-api, user-search, chat-gateway, notifier and the all-in-one chat-suite"
COPY --from=builder \
    /build/target/dist/auth-api \
    /build/target/dist/user-search \
    /build/target/dist/chat-gateway \
    /build/target/dist/notifier \
    /build/target/dist/chat-suite \
    /usr/local/bin/
# The embedded default keeps ./data relative to here; the nonroot home is the one writable place.
WORKDIR /home/nonroot
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
EXPOSE 8080 8081 8082 8083 8084
ENTRYPOINT []
CMD ["chat-suite"]
