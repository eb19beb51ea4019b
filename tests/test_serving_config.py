"""The operator files: models.config, the batching parameters and the README's commands."""

import os
import re
import shlex

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving import client, export, server

SERVING = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "serving")


def read(name):
    with open(os.path.join(SERVING, name)) as f:
        return f.read()


def test_models_config_parses_as_model_server_config():
    config = text_format.Parse(read("models.config"), model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == ("dmrh", "/models/dmrh", "tensorflow")
    assert model.model_version_policy.WhichOneof("policy_choice") == "latest"
    assert model.model_version_policy.latest.num_versions == 1


def batching_parameters_class():
    """`tensorflow.serving.BatchingParameters`, built from its field list.

    The pip package lacks `session_bundle_config_pb2`; these are the fields and numbers of
    `tensorflow_serving/servables/tensorflow/session_bundle_config.proto`.
    """
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    proto = descriptor_pb2.FileDescriptorProto(
        name="batching_parameters.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    message = proto.message_type.add(name="BatchingParameters")
    field = descriptor_pb2.FieldDescriptorProto
    wrapped = [
        ("max_batch_size", 1, "Int64Value"),
        ("batch_timeout_micros", 2, "Int64Value"),
        ("max_enqueued_batches", 3, "Int64Value"),
        ("num_batch_threads", 4, "Int64Value"),
        ("thread_pool_name", 5, "StringValue"),
    ]
    for name, number, wrapper in wrapped:
        message.field.add(
            name=name,
            number=number,
            type=field.TYPE_MESSAGE,
            label=field.LABEL_OPTIONAL,
            type_name=f".google.protobuf.{wrapper}",
        )
    message.field.add(name="allowed_batch_sizes", number=6, type=field.TYPE_INT64, label=field.LABEL_REPEATED)
    message.field.add(
        name="pad_variable_length_inputs", number=7, type=field.TYPE_BOOL, label=field.LABEL_OPTIONAL
    )
    pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    )


def test_batching_parameters_parse_and_are_consistent():
    params = text_format.Parse(read("batching_parameters.txt"), batching_parameters_class()())
    assert params.max_batch_size.value == 32
    assert params.batch_timeout_micros.value >= 0
    assert params.max_enqueued_batches.value >= 1 and params.num_batch_threads.value >= 1
    assert not params.pad_variable_length_inputs  # padding pixels would change the codes
    sizes = list(params.allowed_batch_sizes)
    assert sizes == sorted(sizes) and (not sizes or sizes[-1] == params.max_batch_size.value)
    # The client's default request size must fit in one batch.
    assert client.parse_args(["x.png"]).batch_size <= params.max_batch_size.value
    with pytest.raises(text_format.ParseError):  # the parser does reject unknown fields
        text_format.Parse("max_batch_sise { value: 1 }", batching_parameters_class()())


def readme_commands():
    """Shell commands of the README's bash blocks, continuation lines joined, as argv lists."""
    blocks = re.findall(r"```bash\n(.*?)```", read("README.md"), re.S)
    commands = []
    for block in blocks:
        for command in block.replace("\\\n", " ").splitlines():
            if command.strip() and not command.lstrip().startswith("#"):
                commands.append(shlex.split(command))
    return commands


def flags(argv):
    return dict(
        arg[2:].split("=", 1) if "=" in arg else (arg[2:], None) for arg in argv if arg.startswith("--")
    )


def test_readme_docker_command_runs_the_official_image_with_the_shipped_files():
    (docker,) = [argv for argv in readme_commands() if argv[:2] == ["docker", "run"]]
    image = next(arg for arg in docker if arg.startswith("tensorflow/serving:"))
    server_flags = flags(docker[docker.index(image) + 1 :])
    ports = [docker[i + 1] for i, arg in enumerate(docker) if arg == "-p"]
    assert ports == ["8500:8500", "8501:8501"]
    volumes = dict(docker[i + 1].split(":")[:2] for i, arg in enumerate(docker) if arg == "-v")
    assert volumes["/srv/models"] == "/models"
    container_path = server_flags["model_config_file"]
    assert volumes["$PWD/serving/models.config"] == container_path
    # Batching merges serving_default requests of different sizes and fails them all: off.
    assert "enable_batching" not in server_flags and "batching_parameters_file" not in server_flags
    assert server_flags["enable_grpc_healthcheck_service"] == "true"
    config = text_format.Parse(read("models.config"), model_server_config_pb2.ModelServerConfig())
    assert config.model_config_list.config[0].base_path.startswith("/models/")


def test_readme_batching_opt_in_names_the_shipped_parameters():
    """The opt-in lines mount `serving/batching_parameters.txt` where the flag points."""
    (opt_in,) = [argv for argv in readme_commands() if "--enable_batching=true" in argv]
    volume = opt_in[opt_in.index("-v") + 1].split(":")
    assert volume[0] == "$PWD/serving/batching_parameters.txt"
    assert flags(opt_in)["batching_parameters_file"] == volume[1]
    assert os.path.exists(os.path.join(SERVING, "batching_parameters.txt"))
    readme = read("README.md")
    assert "Batching is off on purpose" in readme and "--metadata" in readme


def test_readme_python_commands_parse_with_the_real_parsers():
    parsers = {
        "serving.export": export.parse_args,
        "serving.client": client.parse_args,
        "serving.server": server.parse_args,
    }
    seen = set()
    for argv in readme_commands():
        if argv[:2] == ["python", "-m"]:
            args = parsers[argv[2]](argv[3:])
            seen.add(argv[2])
            if argv[2] == "serving.client":
                assert args.target == "localhost:8500" and args.model_name == "dmrh"
            if argv[2] == "serving.server":
                assert (args.model_name, args.model_base_path, args.port, args.rest_api_port) == (
                    "dmrh",
                    "/srv/models/dmrh",
                    8500,
                    8501,
                )
            if argv[2] == "serving.export":
                assert (args.model_base_path, args.model_name) == ("/srv/models", "dmrh")
    assert seen == set(parsers)
    readme = read("README.md")
    for needed in ("GetModelStatus", "AVAILABLE", "--enable_grpc_healthcheck_service", "PredictionService"):
        assert needed in readme
