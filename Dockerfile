# Builds the three programs as static binaries into one small image; pick
# the program with the container's entrypoint (ingestor, scorer, decayer).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/ingestor ./cmd/scorer ./cmd/decayer

# Alpine rather than distroless: its wget serves the compose health checks.
FROM alpine:3.20
RUN adduser -D -H -u 10001 leads
COPY --from=build /out/ /usr/local/bin/
USER 10001
ENTRYPOINT ["/usr/local/bin/ingestor"]
