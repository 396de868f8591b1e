# llenergymeasure trtllm service: runs exactly one experiment per container (llem-exp CONFIG).
# TensorRT-LLM release image: TensorRT-LLM, torch and transformers come from the base.
# Tests substitute a local Debian base via --build-arg BASE_IMAGE=... and install from
# a wheelhouse image with --build-arg WHEELS_IMAGE=... PIP_ARGS=--no-index (build containers reach
# no registry there).
ARG BASE_IMAGE=nvcr.io/nvidia/tensorrt-llm/release:1.2.1
# Wheels pip may install from, as a stage of its own: the context's docker/wheels (empty but for
# .gitkeep: .dockerignore) on top of WHEELS_IMAGE. The CPU variant (docker-compose.cpu.yml) names
# an image holding the local wheelhouse, which no build context has to carry.
ARG WHEELS_IMAGE=scratch
FROM ${WHEELS_IMAGE} AS wheels
COPY docker/wheels/ /wheels/

FROM ${BASE_IMAGE}

ARG RESULT_SCHEMA=1
ARG LLEM_VERSION=0.1.0
ARG PIP_ARGS=""
LABEL org.llenergymeasure.result-schema=${RESULT_SCHEMA} \
      org.llenergymeasure.version=${LLEM_VERSION} \
      org.llenergymeasure.service=trtllm

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/hf-cache LLEM_CACHE_DIR=/hf-cache/llem LLEM_RESULTS_DIR=/results

COPY --from=wheels /wheels/ /tmp/wheels/
COPY pyproject.toml README.md /src/llem/
# A venv that sees the base image's engine (torch/vLLM/TensorRT-LLM) and adds only llem on top.
# Dependencies first, installed through an empty package, in a layer of their own: a change to
# llem's source then rebuilds only the small layer below it, not every dependency.
RUN python3 -m venv --system-site-packages /opt/llem \
 && mkdir -p /src/llem/src/llenergymeasure \
 && /opt/llem/bin/python -m pip install ${PIP_ARGS} --find-links /tmp/wheels "/src/llem[serve]" \
 && rm -rf /src/llem/src
COPY src/ /src/llem/src/
RUN /opt/llem/bin/python -m pip install ${PIP_ARGS} --find-links /tmp/wheels --no-deps --force-reinstall /src/llem \
 && rm -rf /tmp/wheels /src/llem
ENV PATH=/opt/llem/bin:$PATH

WORKDIR /configs
ENTRYPOINT []
CMD ["llem-exp", "--help"]
