# The two commands of the README: `make demo` (the main job) and `make test` (the test suite).
# Both create .venv on first use, pinned through constraints.txt.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test golden references

$(VENV)/.installed: pyproject.toml requirements-test.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -r requirements-test.txt
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/netspec validate specs/
	$(VENV)/bin/netspec summary specs/vgg16.yaml
	$(VENV)/bin/netspec build specs/vgg16.yaml --backend torch -o out/vgg16_torch --force
	$(PY) -c "import torch; from out.vgg16_torch.model import VGG16, INPUT_SHAPE; \
	y = VGG16().eval()(torch.randn(1, *INPUT_SHAPE)); print('VGG16 forward pass:', tuple(y.shape))"

# Two workers (CI has 2 cores); a test module's tests stay together, sharing its fixtures.
test: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --dist loadscope

golden: $(VENV)/.installed
	$(PY) -m tests.regen_golden

# The torchvision oracles (tests/test_references.py): torchvision needs its own torch build, so
# it lives in a venv of its own (5.5 GB, a CUDA build of torch that runs on the CPU), which the
# tests call as a separate process. Not part of `make test`.
REFERENCES := .venv-references
$(REFERENCES)/.installed:
	$(PYTHON) -m venv $(REFERENCES)
	$(REFERENCES)/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1 -e .
	touch $@

references: $(VENV)/.installed $(REFERENCES)/.installed
	NETSPEC_REFERENCE_PYTHON=$(REFERENCES)/bin/python $(PY) -m pytest -q tests/test_references.py \
		tests/test_train_data.py -k "references or decoding"
