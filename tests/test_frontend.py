"""The front end, as a specification: what a valid spec means, and what an invalid one prints.

The shipped specs must validate with the parameter counts of the published models (torchvision's
for VGG and ResNet); the broken specs below are snapshot tests of the *whole* error output, one
`file:line:col: message` line per problem, exactly as `netspec validate` prints it.
"""

# ruff: noqa: E501  (snapshots are kept verbatim, one problem per line, however long)

from __future__ import annotations

from pathlib import Path

import pytest

import netspec

SPECS = Path(__file__).resolve().parent.parent / "specs"
IMAGE = "netspec: 1\nname: Net\ninput: {shape: [3, 32, 32]}\n"
FLAT = "netspec: 1\nname: Net\ninput: {shape: [16]}\n"


def load(text: str) -> netspec.Network:
    return netspec.load(text, name="spec.yaml")


def problems(text: str | bytes, tmp_path: Path) -> str:
    """Everything `netspec validate` would print for a spec file holding `text`."""
    path = tmp_path / "spec.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    with pytest.raises(netspec.SpecError) as caught:
        netspec.load(path, name="spec.yaml")
    return "".join(f"{problem}\n" for problem in caught.value.problems)


# ----------------------------------------------------------------------------- shipped specs


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_spec_validates(path: Path) -> None:
    network = netspec.load(path)
    assert network.nodes and network.params > 0


@pytest.mark.parametrize(
    ("spec", "params", "buffers", "macs"),
    [
        ("lenet5", 61_706, 0, 416_520),
        ("vgg16", 138_357_544, 0, 15_470_264_320),
        ("vgg16_bn", 138_365_992, 8_448, 15_470_264_320),
        ("resnet18", 11_689_512, 9_600, 1_814_073_344),
        ("mlp", 235_658, 512, 234_752),
        # torchvision's totals (its buffers count num_batches_tracked too: + one per BatchNorm)
        ("resnet50", 25_557_032, 53_120, 4_089_184_256),
        ("mobilenet_v2", 3_504_872, 34_112, 300_774_272),
        ("efficientnet_b0", 5_288_548, 42_016, 385_814_752),
        ("convnext_tiny", 28_589_128, 0, 4_455_531_264),
        ("googlenet", 6_624_904, 14_560, 1_498_376_192),  # (torchvision: 1.50 "GFLOPS")
    ],
)
def test_totals_match_the_published_models(spec: str, params: int, buffers: int, macs: int) -> None:
    """Trainable parameters as torch's `parameters()` counts them, BatchNorm running statistics
    as buffers, and multiply-accumulates of one sample (convolutions and dense layers)."""
    network = netspec.load(SPECS / f"{spec}.yaml")
    assert (network.params, network.buffers, network.macs) == (params, buffers, macs)


def test_unet_parameters_follow_the_u_net_formula() -> None:
    """Double convolutions (two bias-free 3x3 convolutions, each with BatchNorm) at 64 to 1024
    channels, transposed 2x2 convolutions halving the channels, concatenated skips, a 1x1
    convolution to 2 classes."""

    def double(c_in: int, c_out: int) -> int:
        return 9 * c_in * c_out + 9 * c_out * c_out + 2 * 2 * c_out

    widths = [64, 128, 256, 512, 1024]
    encoder = double(1, 64) + sum(double(a, b) for a, b in zip(widths, widths[1:]))
    decoder = sum(
        4 * wide * narrow + narrow + double(2 * narrow, narrow)
        for wide, narrow in zip(widths[:0:-1], widths[-2::-1])
    )
    network = netspec.load(SPECS / "unet.yaml")
    assert network.params == encoder + decoder + 64 * 2 + 2 == 31_036_546
    assert network.output_shape == (2, 128, 128)


@pytest.mark.parametrize(
    ("spec", "node", "shape"),
    [
        ("lenet5", "c1", (6, 28, 28)),
        ("lenet5", "s4", (16, 5, 5)),
        ("lenet5", "flatten_1", (400,)),
        ("vgg16", "block1.conv.0", (64, 224, 224)),
        ("vgg16", "block3.conv.2", (256, 56, 56)),
        ("vgg16", "block5.pool", (512, 7, 7)),
        ("vgg16", "flatten_1", (25_088,)),
        ("vgg16_bn", "block3.conv.2.bn", (256, 56, 56)),
        ("resnet18", "maxpool", (64, 56, 56)),
        ("resnet18", "layer1.1.add", (64, 56, 56)),
        ("resnet18", "layer2_0.proj", (128, 28, 28)),
        ("resnet18", "layer4_1.relu2", (512, 7, 7)),
        ("resnet18", "avgpool", (512,)),
        ("mlp", "fc2", (128,)),
        ("resnet50", "layer4_0.downsample_bn", (2048, 7, 7)),
        ("mobilenet_v2", "features_18.relu", (1280, 7, 7)),
        ("convnext_tiny", "features_5_0.dwconv", (384, 14, 14)),
        ("googlenet", "maxpool1", (64, 56, 56)),  # ceil_mode: 55 without it
        ("googlenet", "maxpool4", (832, 7, 7)),
        ("unet", "up1_cat", (1024, 16, 16)),
        ("unet", "up4_up", (64, 128, 128)),
    ],
)
def test_inferred_shapes(spec: str, node: str, shape: tuple[int, ...]) -> None:
    assert netspec.load(SPECS / f"{spec}.yaml").shapes[node] == shape


# ----------------------------------------------------------------------------- meaning


def test_names_are_hierarchical_and_unnamed_layers_are_numbered_by_type() -> None:
    network = load(
        IMAGE
        + """\
blocks:
  pair:
    params: {n: 2}
    layers:
      - {type: conv2d, name: conv, filters: 4, kernel: 3, padding: same, repeat: $n}
      - {type: relu}
layers:
  - {type: block, name: stage, block: pair, repeat: 2}
  - {type: relu}
  - {type: conv2d, filters: 4, kernel: 1}
  - {type: relu}
  - {type: global_avgpool2d}
"""
    )
    assert [node.name for node in network.nodes] == [
        "stage.0.conv.0", "stage.0.conv.1", "stage.0.relu_1",
        "stage.1.conv.0", "stage.1.conv.1", "stage.1.relu_1",
        "relu_1", "conv2d_1", "relu_2", "global_avgpool2d_1",
    ]  # fmt: skip


def test_an_explicit_name_is_never_taken_by_an_automatic_one() -> None:
    network = load(FLAT + "layers:\n  - {type: relu, name: relu_1}\n  - {type: relu}\n")
    assert [node.name for node in network.nodes] == ["relu_1", "relu_2"]


def test_yaml_is_read_with_the_yaml_1_2_core_schema() -> None:
    network = load(
        FLAT
        + """\
doc: no
layers:
  - {type: batchnorm, name: off, epsilon: 1e-3}
  - {type: dense, name: yes, units: 0x10, bias: false}
"""
    )
    assert network.spec.doc == "no"
    assert [node.name for node in network.nodes] == ["off", "yes"]
    assert network.spec.layers[0].epsilon == 0.001
    assert network.spec.layers[1].units == 16


def test_shorthands_mean_their_long_forms() -> None:
    short = load(
        IMAGE
        + """\
layers:
  - {type: conv2d, filters: 4, kernel: 3, padding: 1, activation: relu}
  - {type: flatten}
  - {type: dense, units: 2}
train: {optimizer: adam, schedule: cosine}
"""
    )
    long = load(
        IMAGE
        + """\
layers:
  - {type: conv2d, filters: 4, kernel: [3, 3], padding: [1, 1], activation: {type: relu}}
  - {type: flatten}
  - {type: dense, units: 2}
train: {optimizer: {type: adam}, schedule: {type: cosine}}
"""
    )
    assert short.spec == long.spec


def test_padding_same_pads_the_end_more_like_tensorflow() -> None:
    network = load(
        "netspec: 1\nname: Net\ninput: {shape: [1, 6, 6]}\n"
        "layers:\n  - {type: conv2d, name: conv, filters: 1, kernel: 3, stride: 2, padding: same}\n"
    )
    (conv,) = network.nodes
    assert network.shapes["conv"] == (1, 3, 3)  # ceil(6 / 2)
    assert conv.layer.pads((1, 6, 6)) == ((0, 1), (0, 1))


def test_a_shared_layer_reuses_the_weights_of_the_layer_it_names() -> None:
    network = load(
        IMAGE
        + """\
layers:
  - {type: conv2d, name: a, filters: 3, kernel: 3, padding: same}
  - {type: conv2d, name: b, filters: 3, kernel: 3, padding: same, share: a}
"""
    )
    assert network.nodes[1].shares == "a"
    assert (network.stats["a"].params, network.stats["b"].params) == (84, 0)
    assert network.stats["a"].macs == network.stats["b"].macs == 3 * 32 * 32 * 3 * 9


def test_block_arguments_can_pass_on_the_parameters_of_an_outer_block() -> None:
    network = netspec.load(SPECS / "vgg16_bn.yaml")
    assert network.shapes["block4.conv.2.conv"] == (512, 28, 28)
    assert network.stats["block4.conv.2.conv"].params == 512 * 512 * 9 + 512


# ----------------------------------------------------------------------------- broken specs

BROKEN = [
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2d, filter: 8, kernel: 3}
""",
        """\
spec.yaml:5:20: layers[0].filter: unknown key 'filter'; did you mean 'filters'? (valid keys: activation, bias, depthwise, dilation, filters, groups, inputs, kernel, multiplier, name, padding, repeat, share, stride)
""",
        id="unknown key suggests the closest",
    ),
    pytest.param(
        IMAGE
        + """\
blocks:
  stage:
    paramz: {width: 8}
    layers:
      - {type: conv2d, filters: 8, kernel: 3}
layers:
  - {type: block, block: stage}
""",
        """\
spec.yaml:6:5: blocks.stage.paramz: unknown key 'paramz'; did you mean 'params'? (valid keys: doc, layers, params)
""",
        id="unknown key in a block definition suggests the closest",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2D, filters: 8, kernel: 3}
""",
        """\
spec.yaml:5:5: layers[0]: unknown type 'conv2D'; did you mean 'conv2d'? (valid types: conv2d, conv_transpose2d, maxpool2d, avgpool2d, global_avgpool2d, global_maxpool2d, upsample, embedding, position_embedding, class_token, to_sequence, select, conv1d, maxpool1d, avgpool1d, global_avgpool1d, global_maxpool1d, multihead_attention, lstm, gru, flatten, dense, dropout, drop_path, batchnorm, layernorm, groupnorm, gaussian_noise, scale, relu, sigmoid, tanh, leaky_relu, elu, softmax, log_softmax, relu6, silu, gelu, hardswish, hardsigmoid, add, multiply, concat, block)
""",
        id="unknown layer type lists valid ones",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2d, filters: "10", kernel: 3}
""",
        """\
spec.yaml:5:29: layers[0].filters: expected an integer, got str '10'
""",
        id="quoted number is not an int",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2d, filters: 8, kernel: 3, bias: no}
""",
        """\
spec.yaml:5:49: layers[0].bias: expected true or false, got str 'no'
""",
        id="no is a string not false",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2d, filters: 1e-3, kernel: 3}
""",
        """\
spec.yaml:5:29: layers[0].filters: expected an integer, got float 0.001
""",
        id="exponent without dot is a float",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: dropout, rate: .nan}
""",
        """\
spec.yaml:5:27: layers[0].rate: NaN and infinity are not allowed, got nan
""",
        id="nan",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: gaussian_noise, stddev: -.inf}
""",
        """\
spec.yaml:5:36: layers[0].stddev: NaN and infinity are not allowed, got -inf
""",
        id="infinity",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - type: conv2d
    filters: 8
    kernel: 3
    filters: 16
""",
        """\
spec.yaml:8:5: duplicate key 'filters' (first defined on line 6)
""",
        id="duplicate key names both lines",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - !!python/object/apply:os.system [echo hi]
""",
        """\
spec.yaml:5:5: YAML tags are not allowed (found '!!python/object/apply:os.system')
""",
        id="tags are refused",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: relu}
---
netspec: 1
""",
        """\
spec.yaml:6:1: a spec is one YAML document, found more
""",
        id="several documents",
    ),
    pytest.param(
        FLAT + "layers: " + "[" * 65 + "]" * 65 + "\n",
        """\
spec.yaml:4:72: spec is nested deeper than 64 levels
""",
        id="deep nesting",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: dense, units: 123456789012345678901234567890}
""",
        """\
spec.yaml:5:26: integer with 30 digits is too large
""",
        id="huge integer",
    ),
    pytest.param(
        "",
        """\
spec.yaml:1:1: spec is empty
""",
        id="empty file",
    ),
    pytest.param(
        """\
# yaml-language-server: $schema=../netspec.schema.json
""",
        """\
spec.yaml:1:1: spec is empty
""",
        id="comments only",
    ),
    pytest.param(
        b"netspec: 1\nname: Net\ndoc: caf\xe9\n",
        """\
spec.yaml:3:9: spec is not valid UTF-8 (byte 0xe9)
""",
        id="not utf8",
    ),
    pytest.param(
        """\
- {type: relu}
""",
        """\
spec.yaml:1:1: a spec is a mapping (key: value lines)
""",
        id="not a mapping",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: relu
""",
        """\
spec.yaml:6:1: invalid YAML: expected ',' or '}', but got '<stream end>'
""",
        id="yaml syntax error",
    ),
    pytest.param(
        FLAT
        + """\
base: &relu {type: relu}
layers:
  - {<<: *relu, name: act}
""",
        """\
spec.yaml:6:6: YAML merge keys ('<<') are not allowed
""",
        id="merge keys are refused",
    ),
    pytest.param(
        FLAT
        + """\
layers: &loop
  - *loop
""",
        """\
spec.yaml:5:5: invalid YAML: recursive alias 'loop'
""",
        id="recursive alias",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: relu, name: lambda}
""",
        """\
spec.yaml:5:24: layers[0].name: 'lambda' is a Python keyword
""",
        id="keyword name",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: relu, name: len}
""",
        """\
spec.yaml:5:24: layers[0].name: 'len' is reserved in generated code; choose another name
""",
        id="builtin name",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: relu, name: __class__}
""",
        """\
spec.yaml:5:24: layers[0].name: '__class__': names may not start with '_'
""",
        id="dunder name",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: relu, name: réseau}
""",
        """\
spec.yaml:5:24: layers[0].name: 'r\\xe9seau' is not a plain ASCII Python identifier
""",
        id="non ascii name",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: relu, name: forward}
""",
        """\
spec.yaml:5:24: layers[0].name: 'forward' is reserved in generated code; choose another name
""",
        id="name reserved by generated code",
    ),
    pytest.param(
        """\
netspec: 1
name: Net
input: {shape: [1, 4, 4]}
layers:
  - {type: conv2d, name: conv, filters: 8, kernel: 5}
""",
        """\
spec.yaml:5:5: conv: kernel (5, 5) is larger than its input (1, 4, 4)
""",
        id="kernel larger than input",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2d, name: a, filters: 8, kernel: 3}
  - {type: conv2d, name: b, inputs: [input], filters: 8, kernel: 1}
  - {type: add, name: total, inputs: [a, b]}
""",
        """\
spec.yaml:7:5: total: add needs inputs of one shape, got (8, 30, 30) and (8, 32, 32)
""",
        id="add of different shapes",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2d, name: a, filters: 8, kernel: 3}
  - {type: conv2d, name: b, inputs: [input], filters: 4, kernel: 1}
  - {type: concat, name: cat, inputs: [a, b]}
""",
        """\
spec.yaml:7:5: cat: concat along axis 0 needs other axes equal, got (8, 30, 30) and (4, 32, 32)
""",
        id="concat of different sizes",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2d, filters: 8, kernel: 3}
  - {type: dense, units: 10}
""",
        """\
spec.yaml:6:5: dense_1: dense needs (F,) features or a (T, F) sequence, got an image (8, 30, 30); add a flatten or a global pool
""",
        id="dense without flatten",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2d, name: conv, filters: 8, kernel: 3}
  - {type: relu, inputs: [cnov]}
""",
        """\
spec.yaml:6:27: input 'cnov' is not defined; did you mean 'conv'?
""",
        id="unknown input",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: relu, name: a, inputs: [b]}
  - {type: relu, name: b}
""",
        """\
spec.yaml:5:36: input 'b' is defined later (inputs must come first)
""",
        id="forward reference",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: relu, name: act}
  - {type: sigmoid, name: act}
""",
        """\
spec.yaml:6:27: name 'act' is already used on line 5
""",
        id="duplicate layer names",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: relu}
  - {type: add}
""",
        """\
spec.yaml:6:5: add takes 2 to 64 inputs, got 1 (the previous layer); name them in inputs: [...]
""",
        id="add needs named inputs",
    ),
    pytest.param(
        FLAT
        + """\
blocks:
  stage:
    layers:
      - {type: relu}
layers:
  - {type: block, block: stag}
""",
        """\
spec.yaml:9:26: unknown block 'stag'; did you mean 'stage'?
""",
        id="unknown block",
    ),
    pytest.param(
        FLAT
        + """\
blocks:
  fc:
    params: {units: null}
    layers:
      - {type: dense, units: $units}
layers:
  - {type: block, block: fc}
""",
        """\
spec.yaml:10:5: block 'fc' needs parameter 'units'
""",
        id="missing block parameter",
    ),
    pytest.param(
        FLAT
        + """\
blocks:
  fc:
    params: {units: 8}
    layers:
      - {type: dense, units: $units}
layers:
  - {type: block, block: fc, args: {unit: 4}}
""",
        """\
spec.yaml:10:37: block 'fc' has no parameter 'unit'; did you mean 'units'? (parameters: units)
""",
        id="unknown block argument",
    ),
    pytest.param(
        """\
netspec: 1
name: Net
input: {shape: [2, 8, 8]}
blocks:
  b:
    params: {pad: same, axis: 0}
    layers:
      - {type: conv2d, name: c, filters: 2, kernel: 3, padding: $pad}
      - {type: concat, inputs: [input, c], axis: $axis}
layers:
  - {type: block, block: b}
""",
        """\
spec.yaml:8:65: blocks.b.layers[0].padding[0]: expected an integer, got str 'same' (where $pad = 'same')
spec.yaml:9:50: blocks.b.layers[1].axis: '$axis': this field cannot take a block parameter
""",
        id="block parameters where a field takes none, said once",
    ),
    pytest.param(
        FLAT
        + """\
blocks:
  fc:
    params: {units: null}
    layers:
      - {type: dense, units: $units}
layers:
  - {type: block, block: fc, args: {units: 0}}
""",
        """\
spec.yaml:8:30: blocks.fc.layers[0].units: must be at least 1, got 0 (where $units = 0)
""",
        id="bad block argument",
    ),
    pytest.param(
        FLAT
        + """\
blocks:
  fc:
    params: {units: 8}
    layers:
      - {type: dense, units: $unit}
layers:
  - {type: block, block: fc}
""",
        """\
spec.yaml:8:30: unknown parameter '$unit'; did you mean '$units'?
""",
        id="unknown param reference",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: dense, units: $units}
""",
        """\
spec.yaml:5:26: '$units' is used outside a block (only a block's layers can use its parameters)
""",
        id="param outside a block",
    ),
    pytest.param(
        FLAT
        + """\
blocks:
  loop:
    layers:
      - {type: block, block: loop}
layers:
  - {type: block, block: loop}
""",
        """\
spec.yaml:7:30: block 'loop' uses itself (loop -> loop)
""",
        id="block using itself",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2d, name: branch, filters: 8, kernel: 3}
  - {type: conv2d, name: main, inputs: [input], filters: 8, kernel: 3}
""",
        """\
spec.yaml:5:5: output of 'branch' is never used
""",
        id="unused output",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2d, name: a, filters: 3, kernel: 3, padding: same}
  - {type: conv2d, name: b, filters: 3, kernel: 5, padding: same, share: a}
""",
        """\
spec.yaml:6:74: share: 'a' is configured differently: kernel: 5 vs 3
""",
        id="share with a different config",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: dense, units: 8, activation: rleu}
""",
        """\
spec.yaml:5:41: layers[0].activation: unknown type 'rleu'; did you mean 'relu'? (valid types: relu, sigmoid, tanh, leaky_relu, elu, softmax, log_softmax, relu6, silu, gelu, hardswish, hardsigmoid)
""",
        id="unknown activation",
    ),
    pytest.param(
        FLAT
        + """\
layers:
  - {type: dense, units: 8}
train: {optimizer: adamm, schedule: step}
""",
        """\
spec.yaml:6:20: train.optimizer: unknown type 'adamm'; did you mean 'adam'? (valid types: sgd, adam, adamw)
spec.yaml:6:37: train.schedule.step_size: missing required key
""",
        id="bad optimizer and schedule shorthands",
    ),
    pytest.param(
        """\
netspec: 2
name: Net
input: {shape: [16]}
layers:
  - {type: relu}
""",
        """\
spec.yaml:1:10: netspec: unsupported format version 2; this netspec reads version 1
""",
        id="format version 2",
    ),
    pytest.param(
        """\
netspec: 1
name: Net
layer:
  - {type: relu}
""",
        """\
spec.yaml:1:1: input: missing required key (or inputs:)
spec.yaml:3:1: layer: unknown key 'layer'; did you mean 'layers'? (valid keys: blocks, doc, input, inputs, layers, name, netspec, outputs, train)
""",
        id="missing top level keys",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2d, filters: 0, kernel: 3, stride: [1, 2, 3]}
  - {type: maxpool2d, sise: 2}
  - {type: dense, units: "10", activation: relu}
train: {epochs: 0, batch_size: 1.5}
""",
        """\
spec.yaml:5:29: layers[0].filters: must be at least 1, got 0
spec.yaml:5:51: layers[0].stride: expected a number or a list of two, got a list of 3
spec.yaml:6:23: layers[1].sise: unknown key 'sise'; did you mean 'size'? (valid keys: ceil_mode, inputs, name, padding, repeat, share, size, stride)
spec.yaml:7:26: layers[2].units: expected an integer, got str '10'
spec.yaml:8:17: train.epochs: must be at least 1, got 0
spec.yaml:8:32: train.batch_size: expected an integer, got float 1.5
""",
        id="several problems at once sorted by position",
    ),
    pytest.param(
        """\
netspec: 1
name: Net
input: {shape: [1, 4, 4]}
layers:
  - {type: conv2d, name: conv, filters: 8, kernel: 5}
  - {type: relu}
  - {type: dense, filter: 3}
  - {type: dense, units: 2}
""",
        """\
spec.yaml:5:5: conv: kernel (5, 5) is larger than its input (1, 4, 4)
spec.yaml:7:5: layers[2].units: missing required key
spec.yaml:7:19: layers[2].filter: unknown key 'filter' (valid keys: activation, bias, inputs, name, repeat, share, units)
""",
        id="a shape error is reported with the invalid fields of a later layer",
    ),
    pytest.param(
        """\
netspec: 1
name: Net
input: {shape: [3, 32, 32]}
layers:
  - {type: conv2d, name: a, filters: 8, kernel: 3}
  - {type: conv2d, name: side, filters: 8, kernel: 1, inputs: [input]}
  - {type: dense, name: fc, units: 10, inputs: [a]}
""",
        """\
spec.yaml:6:5: output of 'side' is never used
spec.yaml:7:5: fc: dense needs (F,) features or a (T, F) sequence, got an image (8, 30, 30); add a flatten or a global pool
""",
        id="a shape error is reported with an unused layer",
    ),
    pytest.param(
        """\
netspec: 1
name: Net
input: {shape: [3, 8, 8]}
blocks:
  b:
    params: {k: 3}
    layers:
      - {type: conv2d, filters: 4, kernel: $k}
layers:
  - {type: block, block: b, args: {k: [1, 7]}}
  - {type: global_avgpool2d}
""",
        """\
spec.yaml:10:39: layers[0].args.k: a block parameter holds one number, string or true/false, got list [1, 7]; for a pair, give the block a parameter for each value ([$height, $width] in its layer)
""",
        id="a list as a block argument is one problem, not one per kind of value",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2d, filters: 2, kernel: 3, activation: none}
""",
        """\
spec.yaml:5:55: layers[0].activation: unknown type 'none'; leave the key out for none (valid types: relu, sigmoid, tanh, leaky_relu, elu, softmax, log_softmax, relu6, silu, gelu, hardswish, hardsigmoid)
""",
        id="activation none says to leave the key out",
    ),
    pytest.param(
        """\
netspec: 1
name: Net
input: {shape: [3, 32, 32]}
blocks:
  b:
    layers:
      - {type: conv2d, name: c, filters: 4, kernel: 3, inputs: [nowhere]}
layers:
  - {type: conv2d, name: a, filters: 8, kernel: 3}
  - {type: block, name: u, block: b}
  - {type: block, name: v, block: nob}
  - {type: conv2d, name: d, filters: 8, kernel: 3, share: a, padding: 1}
  - {type: add, inputs: [d, a]}
  - {type: conv2d, name: big, filters: 8, kernel: 64, inputs: [input]}
""",
        """\
spec.yaml:7:65: input 'nowhere' is not defined
spec.yaml:11:35: unknown block 'nob'
spec.yaml:12:59: share: 'a' is configured differently: padding: 1 vs valid
spec.yaml:14:5: big: kernel (64, 64) is larger than its input (3, 32, 32)
""",
        id="wiring problems with the shape problems of layers they do not feed",
    ),
    pytest.param(
        """\
netspec: 1
name: Net
input: {shape: [1, 8, 8]}
layers:
  - {type: conv2d, name: a, filters: 8, kernel: 3, bias: no}
  - {type: conv2d, name: b, inputs: [a], filters: 8, kernel: 9}
  - {type: conv2d, name: c, inputs: [input], filters: 8, kernel: 9}
  - {type: relu, inputs: [cc]}
  - {type: add, inputs: [a, b, c]}
""",
        """\
spec.yaml:5:58: layers[0].bias: expected true or false, got str 'no'
spec.yaml:7:5: c: kernel (9, 9) is larger than its input (1, 8, 8)
spec.yaml:8:27: input 'cc' is not defined; did you mean 'c'?
""",
        id="a broken layer holds back only what takes its output",
    ),
    pytest.param(
        """\
netspec: 1
name: Net
input: {shape: [1, 8, 8]}
blocks:
  stage:
    layers:
      - {type: conv2d, filters: 4, kernel: 9}
      - {type: batchnorm, momentum: 2}
      - {type: relu}
  broken:
    layers: []
layers:
  - {type: block, block: stage}
  - {type: block, block: broken}
""",
        """\
spec.yaml:7:9: block_1.conv2d_1: kernel (9, 9) is larger than its input (1, 8, 8)
spec.yaml:8:37: blocks.stage.layers[1].momentum: must be less than 1.0, got 2
spec.yaml:11:13: blocks.broken.layers: expected at least 1 item, got 0
""",
        id="in a block too, and a broken block holds back its uses",
    ),
    pytest.param(
        IMAGE
        + """\
layers:
  - {type: conv2d, filter: 8, kernel: 3}
""",
        """\
spec.yaml:5:20: layers[0].filter: unknown key 'filter'; did you mean 'filters'? (valid keys: activation, bias, depthwise, dilation, filters, groups, inputs, kernel, multiplier, name, padding, repeat, share, stride)
""",
        id="a misspelt required key is one problem",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_broken_spec_reports(text: str | bytes, expected: str, tmp_path: Path) -> None:
    assert problems(text, tmp_path) == expected


# ----------------------------------------------------------------------------- the reference


def _doc_examples() -> list[str]:
    text = (SPECS.parent / "docs" / "spec.md").read_text()
    blocks = [block.split("```", 1)[0] for block in text.split("```yaml\n")[1:]]
    return [
        block for block in blocks if any(not line.startswith("#") for line in block.splitlines())
    ]


@pytest.mark.parametrize("example", _doc_examples())
def test_every_yaml_example_in_the_reference_is_valid(example: str) -> None:
    """Examples in docs/spec.md are whole specs or fragments of one (layers, blocks, train)."""
    if "netspec: 1" not in example:
        shape = "[3, 32, 32]" if "conv2d" in example or "data:" in example else "[16]"
        if "type: embedding" in example:  # fragments of a language model
            shape = "[8], dtype: int64, vocab: 16"
        if example.startswith("- "):
            example = "layers:\n" + "".join(f"  {line}\n" for line in example.splitlines())
        elif example.startswith("train:"):
            layers = "{type: relu}"
            if "data:" in example:  # (it may mix batches: a classifier's)
                layers += ", {type: flatten}, {type: dense, units: 4}"
            example = f"layers: [{layers}]\n" + example
        example = f"netspec: 1\nname: Example\ninput: {{shape: {shape}}}\n" + example
    load(example)


def test_pool_windows_are_torchs_with_and_without_ceil_mode() -> None:
    """Every pool size, stride and padding on small inputs: netspec's count of windows is
    torch's MaxPool2d's, with ceil_mode and without (where torch accepts the pool)."""
    torch = pytest.importorskip("torch")
    from netspec.ir.conv import pooled

    compared = 0
    for size in range(1, 12):
        for k in range(1, 5):
            for s in range(1, 4):
                for p in range(0, k // 2 + 1):
                    if size + 2 * p < k:
                        continue
                    x = torch.zeros(1, 1, size, 1)
                    for ceil in (False, True):
                        pool = torch.nn.MaxPool2d((k, 1), (s, 1), (p, 0), ceil_mode=ceil)
                        assert pooled(size, k, s, p, ceil) == pool(x).shape[2], (size, k, s, p)
                        compared += 1
    assert compared > 300


def test_ceil_mode_counts_the_last_partial_window() -> None:
    """GoogLeNet's pools: 112 -> 56 with a 3x3 window, stride 2 and ceil_mode (55 without)."""
    spec = (
        "netspec: 1\nname: Net\ninput: {shape: [1, 112, 112]}\nlayers:\n"
        "  - {type: maxpool2d, name: ceil, size: 3, stride: 2, ceil_mode: true}\n"
        "  - {type: maxpool2d, name: floor, inputs: [input], size: 3, stride: 2}\n"
    )
    network = netspec.load(spec + "outputs: [ceil, floor]\n", name="spec.yaml")
    assert network.shapes["ceil"] == (1, 56, 56) and network.shapes["floor"] == (1, 55, 55)
