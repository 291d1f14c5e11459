"""`ContainerImages`: the images our workloads run, as `<repository URL>@sha256:<digest>`.

registries.build true: each image under images/ is built with BuildKit (pulumi-docker-build) and
pushed to its ECR repository in this `pulumi up`, tagged by its content (infra/build_context.py).
A build depends on its repository and the registry's credentials only, so it runs while the VPC and
the cluster are created; a workload runs the digest its build pushed, and so waits for it.

registries.build false: CI pushed the images under `registries.imageTag`. `find_pushed_images`
looks each one up in ECR before any resource is registered (previews included) and stops, naming
the push command, when one is absent; the workloads run the digest ECR holds for the tag.

In both cases the digest, not a tag, pins what runs.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from infra import build_context
from infra.registries import repository_name
from stack_config import CACHE_TAG, IMAGES_DIR, RegistryConfig

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class BuildSettings:
    """What every build gets besides its context. Part of the content tag: the provider rebuilds and
    pushes when any of these changes (provider/internal/image.go, Diff), and a pushed tag cannot be
    pushed again, so a change must come with a new tag."""

    platform: str = "linux/amd64"  # the node groups are x86_64 (m7i, g6)
    # BuildKit's registry cache in the image's own repository, under its one mutable tag. ECR needs
    # a single image manifest, not an index, for a cache (imageManifest; AWS's "remote cache support
    # in Amazon ECR for BuildKit clients"). mode max keeps every layer, the pip installs included.
    cache_tag: str = CACHE_TAG
    cache_mode: str = "max"
    cache_image_manifest: bool = True
    cache_oci_media_types: bool = True
    cache_ignore_error: bool = True  # a cache that fails to export costs speed, not the update
    # Previews do not build: the preview workflow's role is read-only, yet a preview build exports
    # the cache to ECR (the provider's buildOnPreview docs); a cold finetune build takes about ten
    # minutes; and pull-request code would run on the runner's Docker. The provider still checks each
    # Dockerfile's syntax at preview, and the tests lint them.
    build_on_preview: bool = False

    @property
    def recipe(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


BUILD = BuildSettings()


def context_location(image: str) -> str:
    """Relative to the project (Pulumi runs the program there): a checkout elsewhere is no change."""
    return f"{IMAGES_DIR.name}/{image}"


def content_tag(image: str) -> str:
    context = IMAGES_DIR / image
    return build_context.content_tag(context, context / "Dockerfile", BUILD.recipe)


@dataclass(frozen=True)
class PushedImage:
    """An image CI pushed under registries.imageTag, as ECR holds it."""

    repository: str  # the repository's name
    tag: str
    digest: str  # sha256:<hex> of the manifest the tag points to


class ImageNotPushed(pulumi.RunError):
    """registries.build is false and ECR lacks an image the workloads would run."""


def find_pushed_images(config: RegistryConfig, name_prefix: str, region: str) -> dict[str, PushedImage]:
    """Each image's digest under imageTag (registries.build false), or ImageNotPushed; {} when building."""
    if config.build:
        return {}
    tag = config.image_tag
    assert tag is not None, "the registries rules require imageTag when build is false"
    found: dict[str, PushedImage] = {}
    absent: list[tuple[str, str, Exception]] = []
    for image in config.images:
        repository = repository_name(name_prefix, image)
        try:
            result = aws.ecr.get_image(repository_name=repository, image_tag=tag)
        except Exception as error:  # the provider's error: a missing repository or tag (or no access)
            absent.append((image, repository, error))
            continue
        found[image] = PushedImage(repository, tag, result.image_digest)
    if absent:
        raise _not_pushed(absent, tag, region)
    return found


def _repository_url(repository: str) -> str | None:
    try:
        return aws.ecr.get_repository(name=repository).repository_url
    except Exception:
        return None


def _not_pushed(absent: list[tuple[str, str, Exception]], tag: str, region: str) -> ImageNotPushed:
    urls = {repository: _repository_url(repository) for _, repository, _ in absent}
    missing_repositories = [r for r, url in urls.items() if url is None]
    if missing_repositories:
        # This program creates the repositories: without them there is nothing CI could have pushed.
        which = (
            f"repository {missing_repositories[0]} does not"
            if len(missing_repositories) == 1
            else f"repositories {', '.join(missing_repositories)} do not"
        )
        return ImageNotPushed(
            f"registries.build is false, but the ECR {which} exist yet: "
            "this program creates the repositories. A stack's first `pulumi up` needs registries.build: true (and no "
            "imageTag): "
            "it creates the repositories and builds and pushes the images from this checkout. Afterwards, push the "
            "images from CI under a version tag and set registries.build: false with that imageTag."
        )
    registry = next(url for url in urls.values() if url is not None).split("/")[0]
    lines = [
        f"registries.build is false, so the workloads run the images CI pushed under imageTag '{tag}', but ECR "
        "has no such image in " + ", ".join(repository for _, repository, _ in absent) + ":"
    ]
    lines += [f"  {repository}: {error}" for _, repository, error in absent]
    lines += [
        "Push them, then run pulumi again:",
        f"  aws ecr get-login-password --region {region} | docker login --username AWS --password-stdin {registry}",
    ]
    lines += [
        f"  docker buildx build --platform {BUILD.platform} --push -t {urls[repository]}:{tag} "
        f"{context_location(image)}"
        for image, repository, _ in absent
    ]
    lines.append("or set registries.build: true (and remove imageTag) to build them in `pulumi up`.")
    return ImageNotPushed("\n".join(lines))


def _by_digest(url: str, digest: str) -> str:
    if not _DIGEST.fullmatch(digest or ""):
        raise ValueError(f"{url}: no pushed digest to run (got {digest!r})")
    return f"{url}@{digest}"


@dataclass(frozen=True)
class ContainerImagesArgs:
    config: RegistryConfig
    repository_urls: Mapping[str, pulumi.Output[str]]  # image -> ECR repository URL (ImageRepositories.urls)
    pushed: Mapping[str, PushedImage]  # find_pushed_images: CI's images (registries.build false)


class ContainerImages(pulumi.ComponentResource):
    def __init__(self, name: str, args: ContainerImagesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genai:infra:ContainerImages", name, None, opts)
        cfg = args.config
        # image -> `<repository URL>@sha256:<digest>`: what the workloads run.
        self.refs: dict[str, pulumi.Output[str]] = {}
        token = (
            aws.ecr.get_authorization_token_output(opts=pulumi.InvokeOutputOptions(parent=self)) if cfg.build else None
        )
        for image in cfg.images:
            url = args.repository_urls[image]
            if token is not None:  # registries.build
                digest: pulumi.Input[str] = self._build(name, image, url, token).digest
            else:
                digest = args.pushed[image].digest
            self.refs[image] = pulumi.Output.all(url, digest).apply(lambda v: _by_digest(*v))
        self.register_outputs({"refs": self.refs})

    def _build(
        self, name: str, image: str, url: pulumi.Output[str], token: pulumi.Output[aws.ecr.GetAuthorizationTokenResult]
    ) -> docker_build.Image:
        tag = content_tag(image)
        cache = url.apply(lambda u: f"{u}:{BUILD.cache_tag}")
        return docker_build.Image(
            f"{name}-{image}",
            context=docker_build.BuildContextArgs(location=context_location(image)),
            dockerfile=docker_build.DockerfileArgs(location=f"{context_location(image)}/Dockerfile"),
            platforms=[docker_build.Platform(BUILD.platform)],
            push=True,
            tags=[url.apply(lambda u: f"{u}:{tag}")],
            # The token lasts 12 hours; the provider ignores a changed password when it diffs.
            registries=[
                docker_build.RegistryArgs(
                    address=url.apply(lambda u: u.split("/")[0]),
                    username=token.user_name,
                    password=pulumi.Output.secret(token.password),
                )
            ],
            cache_from=[docker_build.CacheFromArgs(registry=docker_build.CacheFromRegistryArgs(ref=cache))],
            cache_to=[
                docker_build.CacheToArgs(
                    registry=docker_build.CacheToRegistryArgs(
                        ref=cache,
                        mode=docker_build.CacheMode(BUILD.cache_mode),
                        image_manifest=BUILD.cache_image_manifest,
                        oci_media_types=BUILD.cache_oci_media_types,
                        ignore_error=BUILD.cache_ignore_error,
                    )
                )
            ],
            build_on_preview=BUILD.build_on_preview,
            opts=pulumi.ResourceOptions(parent=self),
        )
