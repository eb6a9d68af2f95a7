# syntax=docker/dockerfile:1
# Build: docker build -t dra .
# Run:   docker run -p 3868:3868 -v $PWD/my.yaml:/etc/dra/dra.yaml:ro -v dra-data:/var/lib/dra dra
# Lab:   docker run -p 3868:3868 -v dra-data:/var/lib/dra dra -config /etc/dra/lab.yaml
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/dra ./cmd/dra \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/dra-cdr ./cmd/dra-cdr \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/draload ./cmd/draload \
 && mkdir -p /out/var/lib/dra /out/etc/dra \
 && cp configs/container.yaml /out/etc/dra/dra.yaml \
 && cp configs/container-lab.yaml /out/etc/dra/lab.yaml

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dra /out/dra-cdr /out/draload /usr/local/bin/
COPY --from=build /out/etc/dra /etc/dra
COPY --from=build --chown=nonroot:nonroot /out/var/lib/dra /var/lib/dra
USER nonroot:nonroot
# 3868: Diameter; 9868: the admin API and /metrics (on loopback unless the
# mounted configuration sets admin.address and admin.token).
EXPOSE 3868/tcp 9868/tcp
VOLUME ["/var/lib/dra"]
ENV DRA_CONFIG=/etc/dra/dra.yaml
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/usr/local/bin/dra", "health"]
ENTRYPOINT ["/usr/local/bin/dra"]
