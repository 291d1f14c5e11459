"""Our images in the same `pulumi up`: built and pushed by pulumi-docker-build while the cluster is
created, and run by the digest pushed; or, with `registries.build: false`, CI's images under
`imageTag`, found in ECR before anything is created and run by their digest too."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path

import pulumi
import pytest

from stack_config import ConfigError, parse_stack_config
from tests import harness
from tests.harness import ACCOUNT, ROOT, Graph, Registered, Secret, run_program, stack_config, walk
from tests.harness import parsed_config as parsed

IMAGE = "docker-build:index:Image"
REPOSITORY = "aws:ecr/repository:Repository"
REGISTRY = f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com"
WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job")
OUR_IMAGES = {"finetune", "rag", "chatbot"}
GET_IMAGE = "aws:ecr/getImage:getImage"


def repository_url(graph: Graph, image: str) -> str:
    return f"{REGISTRY}/{parsed(graph).cluster.name}/{image}"


def repository(graph: Graph, image: str) -> Registered:
    return graph.one(REPOSITORY, f"images-{image}")


def builds(graph: Graph) -> dict[str, Registered]:
    """The Image resources, by the folder under images/ they build."""
    return {r.inputs["context"]["location"].rsplit("/", 1)[-1]: r for r in graph.of_type(IMAGE)}


def our_containers(graph: Graph) -> list[tuple[Registered, str, str]]:
    """(workload, image name, reference) of every container that runs one of our ECR images."""
    found = []
    for r in graph.resources:
        if r.type in WORKLOADS:
            pod = r.inputs["spec"]["template"]["spec"]
            for c in [*pod.get("initContainers", []), *pod["containers"]]:
                if c["image"].startswith(REGISTRY + "/"):
                    found.append((r, c["image"].split("@")[0].split(":")[0].rsplit("/", 1)[-1], c["image"]))
    return found


# --- registries.build true (dev): built in this update -------------------------------------------


def test_dev_builds_every_image_in_the_update(dev: Graph):
    cfg = parsed(dev)
    assert cfg.registries.build is True
    assert set(builds(dev)) == set(cfg.registries.images) == OUR_IMAGES


def test_each_build_pushes_to_its_own_repository_for_the_nodes(dev: Graph):
    from infra import images
    from stack_config import CACHE_TAG

    assert builds(dev), "no docker-build Image in the graph"
    for name, build in builds(dev).items():
        url, i = repository_url(dev, name), build.inputs
        assert i["push"] is True and i["platforms"] == ["linux/amd64"], name  # the node groups are x86_64
        # Relative paths: a checkout elsewhere is no change (the provider diffs context.location).
        assert i["context"] == {"location": f"images/{name}"}
        assert i["dockerfile"] == {"location": f"images/{name}/Dockerfile"}
        assert i["tags"] == [f"{url}:{images.content_tag(name)}"]
        cache = f"{url}:{CACHE_TAG}"
        assert i["cacheFrom"] == [{"registry": {"ref": cache}}]
        (cache_to,) = i["cacheTo"]
        # ECR takes a cache as one image manifest; "max" keeps every stage's layers; a failed export
        # costs speed only. (The SDK adds its defaults for the compression keys.)
        wanted = {"ref": cache, "mode": "max", "imageManifest": True, "ociMediaTypes": True, "ignoreError": True}
        assert {k: cache_to["registry"].get(k) for k in wanted} == wanted and set(cache_to) == {"registry"}
        assert i["buildOnPreview"] is False
        (registry,) = build.raw_inputs["registries"]
        assert registry["address"] == REGISTRY and registry["username"] == "AWS"
        assert isinstance(registry["password"], Secret), "the ECR token is a secret in the state"
        assert registry["password"].value.startswith(harness.ECR_TOKEN_MARK)


def test_builds_wait_for_their_repository_only(dev: Graph):
    """They run while the VPC and the control plane are created: nothing of the cluster comes first."""
    assert builds(dev), "no docker-build Image in the graph"
    component = dev.one("genai:infra:ContainerImages")
    assert component.dependencies == []
    for name, build in builds(dev).items():
        repo = repository(dev, name)
        assert set(build.dependencies) == {repo.urn}, name
        assert repo.dependencies == []
        assert not build.provider_urn.startswith("urn:") or "kubernetes" not in build.provider_urn
        later = [
            r
            for r in dev.resources
            if r.type.startswith(("kubernetes:", "eks:", "aws:eks/", "aws:ec2/"))
            or r.type == "pulumi:providers:kubernetes"
        ]
        assert later and not [r.name for r in later if dev.depends_on(build, r)]


def test_every_workload_runs_the_digest_this_update_pushed(dev: Graph):
    ran = set()
    for workload, name, reference in our_containers(dev):
        assert name in builds(dev), f"{workload.name} runs {reference}, which this update does not build"
        build = builds(dev)[name]
        (tag,) = build.inputs["tags"]
        assert re.fullmatch(r"[^@:]+@sha256:[0-9a-f]{64}", reference), reference
        assert reference == f"{repository_url(dev, name)}@{harness.pushed_digest(tag)}"
        assert dev.depends_on(workload, build), f"{workload.type} {workload.name} does not wait for its image"
        ran.add(name)
    assert ran == OUR_IMAGES
    exported, secret = dev.exports["images"]
    assert not secret and set(exported) == OUR_IMAGES
    assert all(
        exported[n] == f"{repository_url(dev, n)}@{harness.pushed_digest(builds(dev)[n].inputs['tags'][0])}"
        for n in OUR_IMAGES
    )


def test_the_ecr_token_is_a_secret_of_the_builds_only(graph: Graph):
    for r in graph.resources:
        for path, value in walk(r.raw_inputs):
            if isinstance(value, str) and harness.ECR_TOKEN_MARK in value:
                assert r.type == IMAGE and path == "registries[0].password", f"{r.type} {r.name}: {path}"
    assert harness.ECR_TOKEN_MARK not in json.dumps(graph.exports, default=str)


# --- registries.build false (prod): CI's images under imageTag ---------------------------------


def test_ci_images_run_by_the_digest_ecr_holds_for_the_image_tag(prod: Graph):
    cfg = parsed(prod)
    assert cfg.registries.build is False and prod.of_type(IMAGE) == []
    cluster, tag = cfg.cluster.name, cfg.registries.image_tag
    asked = sorted((a["repositoryName"], a["imageTag"]) for token, a in prod.invokes if token == GET_IMAGE)
    assert asked == sorted((f"{cluster}/{image}", tag) for image in cfg.registries.images)
    assert "aws:ecr/getAuthorizationToken:getAuthorizationToken" not in [t for t, _ in prod.invokes]
    ran = set()
    for workload, name, reference in our_containers(prod):
        assert reference == f"{repository_url(prod, name)}@{harness.pushed_digest(f'{cluster}/{name}:{tag}')}"
        assert prod.depends_on(workload, repository(prod, name))
        ran.add(name)
    assert ran == {"rag", "chatbot"}, "prod has no finetune workspace: no Job runs finetune"


def _without_builds(stack: str) -> dict:
    config = copy.deepcopy(stack_config(stack))
    config["genai-eks:registries"] = {**config.get("genai-eks:registries", {}), "build": False, "imageTag": "0.1.0"}
    return config


def test_an_absent_tag_stops_the_program_before_anything_naming_the_push_command(monkeypatch):
    monkeypatch.setattr(harness.PlatformMocks, "missing_images", frozenset({"genai-prod/rag:0.1.0"}))
    with pytest.raises(pulumi.RunError) as raised:
        run_program("prod")
    message = str(raised.value)
    assert harness.last_monitor.registered == []
    assert "genai-prod/rag" in message and "'0.1.0'" in message
    assert (
        f"aws ecr get-login-password --region us-west-2 | docker login --username AWS --password-stdin {REGISTRY}"
        in message
    )
    assert f"docker buildx build --platform linux/amd64 --push -t {REGISTRY}/genai-prod/rag:0.1.0 images/rag" in message
    assert "finetune" not in message and "chatbot" not in message, "only the absent image is named"


def test_a_first_up_without_builds_says_the_repositories_come_first(monkeypatch):
    """The repositories are this program's: on a stack's first `pulumi up` there is nothing to look in."""
    monkeypatch.setattr(harness.PlatformMocks, "missing_repositories", frozenset(f"genai-dev/{i}" for i in OUR_IMAGES))
    with pytest.raises(pulumi.RunError) as raised:
        run_program("dev", _without_builds("dev"))
    message = str(raised.value)
    assert harness.last_monitor.registered == []
    assert "genai-dev/finetune" in message and "do not exist yet" in message
    assert "registries.build: true" in message and "first `pulumi up`" in message


# --- repositories ---------------------------------------------------------------------------------


def test_every_tag_is_immutable_but_the_build_cache(graph: Graph):
    from infra.build_context import CONTENT_TAG_PREFIX
    from stack_config import CACHE_TAG

    for repo in graph.of_type(REPOSITORY):
        assert repo.inputs["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION", repo.name
        # One exact tag, no wildcard: every tag a workload runs stays immutable.
        assert repo.inputs["imageTagMutabilityExclusionFilters"] == [{"filter": CACHE_TAG, "filterType": "WILDCARD"}]
    assert re.fullmatch(r"[0-9a-zA-Z._-]{1,128}", CACHE_TAG) and not CACHE_TAG.startswith(CONTENT_TAG_PREFIX)


# --- the content tag ----------------------------------------------------------------------------


def _copy(image: str, to: Path) -> Path:
    return Path(shutil.copytree(ROOT / "images" / image, to / image, ignore=shutil.ignore_patterns("__pycache__")))


def test_the_content_tag_follows_what_docker_sends(tmp_path: Path):
    from infra.build_context import content_tag

    context = _copy("rag", tmp_path / "a")

    def tag() -> str:
        return content_tag(context, context / "Dockerfile", "linux/amd64")

    first = tag()
    assert re.fullmatch(r"content-[0-9a-f]{20}", first) and tag() == first
    elsewhere = _copy("rag", tmp_path / "b")
    assert content_tag(elsewhere, elsewhere / "Dockerfile", "linux/amd64") == first, "the checkout's path is no content"

    # What .dockerignore keeps out of the context is no change.
    (context / "README.md").write_text("edited\n")
    (context / "notes.txt").write_text("a new file outside the image\n")
    (context / "tests" / "test_new.py").write_text("x = 1\n")
    (context / "rag_service" / "__pycache__").mkdir()
    (context / "rag_service" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    assert tag() == first

    # Everything the build reads is.
    seen = {first}
    for change in (
        lambda: (context / "rag_service" / "app.py").write_text(
            (context / "rag_service" / "app.py").read_text() + "\n"
        ),
        lambda: (context / "requirements.txt").write_text((context / "requirements.txt").read_text() + "six==1.17.0\n"),
        lambda: (context / "rag_service" / "extra.py").write_text(""),
        lambda: os.chmod(context / "rag_service" / "extra.py", 0o755),
        lambda: (context / "rag_service" / "extra.py").rename(context / "rag_service" / "renamed.py"),
        lambda: (context / "Dockerfile").write_text((context / "Dockerfile").read_text() + "# edited\n"),
    ):
        change()
        assert tag() not in seen
        seen.add(tag())
    assert content_tag(context, context / "Dockerfile", "linux/arm64") not in seen, "the build settings are content"


@pytest.mark.parametrize("image", sorted(OUR_IMAGES))
def test_the_context_is_what_the_dockerfile_copies(image: str):
    from infra.build_context import context_files

    package = {"finetune": "finetune", "rag": "rag_service", "chatbot": "chatbot_ui"}[image]
    files = context_files(ROOT / "images" / image)
    expected = {
        p.relative_to(ROOT / "images" / image).as_posix()
        for p in (ROOT / "images" / image / package).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert set(files) == expected | {"requirements.txt"}


# moby/patternmatcher patternmatcher_test.go, TestMatches (MatchesOrParentMatches): pattern, path, excluded.
UPSTREAM_CASES = [
    ("**", "file", True),
    ("**", "file/", True),
    ("**/", "file", True),
    ("**/", "file/", True),
    ("**", "/", True),
    ("**/", "/", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**", "dir/file/", True),
    ("**/", "dir/file/", True),
    ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),
]
UPSTREAM_MULTI_CASES = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    # ours: the images' own .dockerignore shape
    (["*", "!requirements.txt", "!rag_service/", "rag_service/**/__pycache__"], "rag_service/__pycache__/a.pyc", True),
    (["*", "!requirements.txt", "!rag_service/", "rag_service/**/__pycache__"], "rag_service/sub/x.py", False),
    (["*", "!requirements.txt", "!rag_service/"], "Dockerfile", True),
]


def test_dockerignore_patterns_match_as_docker_matches_them():
    from infra.build_context import IgnoreMatcher, read_ignore_file

    wrong = [(p, path) for p, path, excluded in UPSTREAM_CASES if IgnoreMatcher([p]).excludes(path) is not excluded]
    wrong += [
        (p, path) for p, path, excluded in UPSTREAM_MULTI_CASES if IgnoreMatcher(p).excludes(path) is not excluded
    ]
    assert wrong == []
    # ignorefile.ReadAll: BOM, comments, blanks, leading slashes, "!" with spaces, cleaning.
    assert read_ignore_file("\ufeff# c\n\n /a/b/ \n! /c/../d\n#x\n") == ["a/b", "!d"]
    with pytest.raises(ValueError):
        IgnoreMatcher(["!"])


# --- config -------------------------------------------------------------------------------------


def _registries(stack: str, **section) -> dict:
    config = copy.deepcopy(stack_config(stack))
    config["genai-eks:registries"] = section
    return config


@pytest.mark.parametrize(
    "section, key, value, allowed",
    [
        (
            {"build": True, "imageTag": "0.1.0"},
            "genai-eks:registries.imageTag",
            "0.1.0",
            "no value while registries.build is true",
        ),
        ({"build": False}, "genai-eks:registries.imageTag", None, "the tag CI pushed"),
        ({"build": "yes"}, "genai-eks:registries.build", "yes", "true or false"),
        (
            {"images": ["finetune", "rag", "chatbot", "nope"]},
            "genai-eks:registries.images[3]",
            "nope",
            "images/nope/Dockerfile",
        ),
    ],
)
def test_the_registries_section_says_where_images_come_from(section, key, value, allowed):
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(_registries("dev", **section), "dev")
    assert raised.value.key == key and allowed in raised.value.allowed
    if value is not None:
        assert raised.value.value == value


def test_a_build_false_stack_may_list_an_image_folder_that_ci_builds():
    cfg = parse_stack_config(
        _registries("dev", build=False, imageTag="1.2.3", images=["finetune", "rag", "chatbot", "nope"]), "dev"
    )
    assert (cfg.registries.build, cfg.registries.image_tag) == (False, "1.2.3")
