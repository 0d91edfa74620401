# The nightly CronJob's image: the distributed runs' image (package, scenarios; dumgum-loadtest
# on PATH) plus deploy/nightly.sh. Build from the repository's root:
#   docker build -f deploy/kubernetes/distributed/Dockerfile -t dumgum-loadtest:latest .
#   docker build -f deploy/kubernetes/nightly.Dockerfile -t dumgum-loadtest-nightly:latest .
FROM dumgum-loadtest:latest
WORKDIR /app
COPY deploy ./deploy
ENTRYPOINT []
CMD ["deploy/nightly.sh", "scenarios/nightly.yaml"]
