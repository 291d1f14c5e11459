"""`genai-eks:jupyterhub`: the hub, how people sign in, and the notebook profiles."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from stack_config.base import NO_VALUE, Cidr, ConfigModel, Flag, Items, OneOf, Whole, non_empty_list, refuse, text

JUPYTERHUB_AUTHENTICATORS = ("sharedPassword", "github")


class GitHubAuth(ConfigModel):
    """GitHub OAuth; the app's client secret is the top-level secret githubClientSecret."""

    client_id: Annotated[str, text(r"^[\w.-]{8,64}$", "a GitHub OAuth app client id")] = Field(
        description="the GitHub OAuth app's client id"
    )
    allowed_organizations: Annotated[
        tuple[Annotated[str, text(r"^[A-Za-z0-9](-?[A-Za-z0-9]){0,38}$", "a GitHub organisation name")], ...],
        non_empty_list(),
    ] = Field(description="GitHub organisations whose members may sign in")


class JupyterHubConfig(ConfigModel):
    """JupyterHub (its chart): CPU and GPU notebook profiles, behind a shared password or GitHub OAuth."""

    enabled: Annotated[bool, Flag()] = Field(True, description="deploy JupyterHub")
    authenticator: Annotated[Literal["sharedPassword", "github"], OneOf(*JUPYTERHUB_AUTHENTICATORS)] = Field(
        "sharedPassword",
        description=(
            "a generated shared password (outputs jupyterhubPassword, jupyterhubAdminPassword), or GitHub OAuth"
        ),
    )
    github: GitHubAuth | None = Field(
        None, description="GitHub OAuth: required with authenticator github, refused otherwise"
    )
    public: Annotated[bool, Flag()] = Field(
        False, description=("put the proxy on an internet-facing NLB instead of a ClusterIP (port-forward)")
    )
    public_source_ranges: Annotated[tuple[Annotated[str, Cidr()], ...], Items()] = Field(
        (), description="who may reach the public hub; required with public true, refused without it"
    )
    gpu_profile: Annotated[bool, Flag()] = Field(
        True, description="offer the one-GPU notebook profile (no persistent home)"
    )
    home_storage_gib: Annotated[int, Whole(1, 16384)] = Field(
        20, alias="homeStorageGiB", description="each user's home volume (encrypted gp3), CPU profile, GiB"
    )
    start_timeout_seconds: Annotated[int, Whole(60, 3600)] = Field(
        1200, description="how long a notebook server may take to start (a GPU node, a GPU image)"
    )

    @model_validator(mode="after")
    def _rules(self) -> JupyterHubConfig:
        if self.authenticator == "github" and self.github is None:
            refuse("clientId and allowedOrganizations when authenticator is github", NO_VALUE, at=["github"])
        if self.authenticator != "github" and self.github is not None:
            refuse(
                "no value unless authenticator is github",
                self.github.model_dump(by_alias=True, mode="json"),
                at=["github"],
            )
        if self.public and not self.public_source_ranges:
            refuse("at least one CIDR when public is true (who may reach the hub)", [], at=["publicSourceRanges"])
        if self.public_source_ranges and not self.public:
            refuse("an empty list unless public is true", list(self.public_source_ranges), at=["publicSourceRanges"])
        return self
