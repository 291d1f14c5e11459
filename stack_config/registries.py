"""`genai-eks:registries`: the ECR repositories, and whether `pulumi up` builds the images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from stack_config.base import NO_VALUE, ConfigModel, Flag, Items, Whole, refuse, text

# Each image's build context: images/<name>/ with its Dockerfile (infra/images.py builds them).
IMAGES_DIR = Path(__file__).resolve().parent.parent / "images"
# Each repository's one mutable tag: BuildKit's registry cache (infra/registries.py). Never run.
CACHE_TAG = "buildcache"
_IMAGE_NAME = text(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$", "a lower-case image name, e.g. rag")
_IMAGE_TAG = text(r"^[\w][\w.-]{0,127}$", "an image tag, e.g. 0.1.0 (not latest: tags are immutable)")


class RegistryConfig(ConfigModel):
    """One ECR repository per image (immutable tags, scan on push); the workloads run images by digest."""

    images: Annotated[tuple[Annotated[str, _IMAGE_NAME], ...], Items()] = Field(
        ("finetune", "rag", "chatbot"),
        description=("one ECR repository each, named <cluster>/<image>; an enabled workload needs its image here"),
    )
    build: Annotated[bool, Flag()] = Field(
        True,
        description=(
            "build and push the images in `pulumi up` (Docker with buildx; tagged by content); false: run CI's "
            "images under imageTag"
        ),
    )
    image_tag: Annotated[str, _IMAGE_TAG] | None = Field(
        None,
        description=("build false only (required there): the tag CI pushed the images under; not latest or buildcache"),
    )
    keep_tagged_images: Annotated[int, Whole(1, 1000)] = Field(30, description="lifecycle: newest images kept")
    untagged_expiry_days: Annotated[int, Whole(1, 365)] = Field(
        7, description="lifecycle: untagged images expire after this many days"
    )
    force_delete: Annotated[bool, Flag()] = Field(
        False, description="let `pulumi destroy` delete repositories with images"
    )

    @model_validator(mode="after")
    def _rules(self) -> RegistryConfig:
        if self.image_tag == "latest":
            refuse(
                "a version tag: the repositories are immutable, so 'latest' could never move", "latest", at=["imageTag"]
            )
        if self.image_tag == CACHE_TAG:
            refuse("a version tag: this one is the build cache's (mutable, not an image)", CACHE_TAG, at=["imageTag"])
        if self.build and self.image_tag is not None:
            refuse(
                "no value while registries.build is true (the program tags what it builds by content); "
                "registries.build false runs the images CI pushed under this tag",
                self.image_tag,
                at=["imageTag"],
            )
        if not self.build and self.image_tag is None:
            refuse(
                "the tag CI pushed the images under, e.g. 0.1.0 (registries.build is false)", NO_VALUE, at=["imageTag"]
            )
        for i, image in enumerate(self.images if self.build else ()):
            if not (IMAGES_DIR / image / "Dockerfile").is_file():
                refuse(
                    f"an image the program can build: images/{image}/Dockerfile is missing "
                    "(or registries.build false, to run CI's image)",
                    image,
                    at=["images", i],
                )
        return self
