# syntax=docker/dockerfile:1
# The one image of Pulse: the `pulse` binary; each service is this image with
# another subcommand (`command-api`, `projectors`, `chat-gateway`, `notifier`,
# or `all`). See README.md, "Deploying".
#
#   docker build -t pulse/pulse:0.1.0 .

# The toolchain Pulse is built and tested with (rust-version in Cargo.toml is
# the floor).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target caches live outside the image layers, so a rebuild
# after a source change compiles only what changed.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p pulse \
 && install -D target/release/pulse /out/usr/local/bin/pulse \
 && install -d -o 65532 -g 65532 /out/var/lib/pulse

# glibc and CA certificates (SMTP over TLS, Web Push), no shell, no package
# manager; runs as the unprivileged user 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /
USER 65532:65532
# Inside a container the services listen on every interface (the defaults
# are loopback, for a laptop).
ENV PULSE_LOG_FORMAT=json \
    PULSE_DATA_DIR=/var/lib/pulse \
    PULSE_COMMAND_API_ADDR=0.0.0.0:3001 \
    PULSE_PROJECTORS_ADDR=0.0.0.0:3002 \
    PULSE_CHAT_GATEWAY_ADDR=0.0.0.0:3003 \
    PULSE_NOTIFIER_ADDR=0.0.0.0:3004
EXPOSE 3001 3002 3003 3004
# The image has no curl: the binary probes itself. Compose overrides the URL
# per service; this one fits `pulse all` and the command API.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/pulse", "probe", "http://127.0.0.1:3001/ready"]
ENTRYPOINT ["/usr/local/bin/pulse"]
CMD ["all"]
