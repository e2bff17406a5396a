"""Project-level prerequisites of the gcp-cloudrun target.

Creates:
- one ``projects.Service`` per Google API the stack uses (run, sqladmin, secretmanager,
  artifactregistry, vpcaccess, servicenetworking, redis, iam, compute);
- the Artifact Registry Docker repository the release images are pushed to, with immutable tags so
  a release tag can never be moved to other bytes after it was deployed. Its id is the stack prefix
  (``notes-staging``): repository ids are unique per project and location, so two stacks of one app
  sharing a project each get their own (``rules.repository_id``). In protected environments the
  repository is kept on delete (``retain_on_delete``): the live revision's image must stay
  pullable while the stack is renamed or torn down (delete it with gcloud afterwards).

APIs are enabled with ``disable_on_destroy=False``: an API is a project-wide switch that other stacks,
consoles and scripts in the same project rely on, and disabling it on ``pulumi destroy`` would break
them (and disabling ``compute`` or ``servicenetworking`` while anything still uses them fails or
cascades). Enabling an already enabled API is a no-op, so several stacks can share a project.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

API_NAMES: tuple[str, ...] = (
    "run",
    "sqladmin",
    "secretmanager",
    "artifactregistry",
    "vpcaccess",
    "servicenetworking",
    "redis",
    "iam",
    "compute",
)
"""Short names of the APIs; the service is ``<name>.googleapis.com``."""


@dataclass(frozen=True)
class ProjectServicesArgs:
    """Inputs of ``ProjectServices``."""

    project: str
    """GCP project id."""
    region: str
    """Location of the Artifact Registry repository (the Cloud Run region, so pulls stay regional)."""
    repository_id: str
    """Artifact Registry repository id (``rules.repository_id``: the stack prefix)."""
    retain_repository: bool = False
    """Keep the repository (and its images) in GCP when Pulumi deletes or replaces it."""


class ProjectServices(pulumi.ComponentResource):
    """Enabled Google APIs and the image repository."""

    services: Mapping[str, gcp.projects.Service]
    """API short name (``"run"``) -> its enablement; resources depend on the ones they need."""
    repository: gcp.artifactregistry.Repository
    """The Docker repository for release images."""
    repository_url: pulumi.Output[str]
    """``<region>-docker.pkg.dev/<project>/<repository>``: where CI pushes images."""

    def __init__(self, name: str, args: ProjectServicesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:gcp:ProjectServices", name, None, opts)
        self.services = {
            api: gcp.projects.Service(
                f"{name}-{api}",
                project=args.project,
                service=f"{api}.googleapis.com",
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in API_NAMES
        }
        self.repository = gcp.artifactregistry.Repository(
            f"{name}-images",
            project=args.project,
            location=args.region,
            repository_id=args.repository_id,
            format="DOCKER",
            description="Release images of the Django app (immutable tags)",
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.services["artifactregistry"]],
                retain_on_delete=args.retain_repository,
            ),
        )
        self.repository_url = pulumi.Output.concat(
            args.region, "-docker.pkg.dev/", args.project, "/", self.repository.repository_id
        )
        self.register_outputs({"repositoryUrl": self.repository_url, "services": sorted(self.services)})

    def needs(self, *apis: str) -> list[pulumi.Resource]:
        """The enablements of ``apis``, for ``depends_on`` of a resource that calls them."""
        return [self.services[api] for api in apis]

    def all(self) -> list[pulumi.Resource]:
        """Every enablement (the workloads touch nearly all of these APIs when they first start)."""
        return [self.services[api] for api in API_NAMES]
