"""Model resolution: `model` as the client sent it → the chain of Targets to try.

The rule, in order: a model alias of the project (its target may be a comma-separated failover chain);
a provider template's name; `provider:model` with a known provider; otherwise a bare model name
(`gpt-4o`, `claude-sonnet-4-5-20250929`), served by the one assigned provider whose catalogue lists it
or a dated variant of it (catalogue.py), by the project's default provider when several do, and by the
default provider when none does (self-hosted servers list nothing). Config comes from two cached snapshots, one global (templates, disabled providers) and one per project
(aliases, provider assignments with their decrypted credentials), so a warm request resolves from
memory. An alias may name several targets separated by commas: that is a failover chain, tried in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from credentials.models import ProviderAssignment, ProviderSetting, ProviderTemplate
from gateways.ai import catalogue
from gateways.ai.errors import OpenAIError
from gateways.ai.models import ModelAlias
from gateways.ai.providers import registry
from gateways.ai.providers.base import ProviderAdapter, Target
from gateways.common.router import GatewayRequest
from projects.models import Project
from promptgate.errors import ErrorCode


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    name: str
    provider: str
    model: str
    parameters: Mapping[str, Any]
    enabled: bool


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    id: int
    api_key: str  # decrypted, in memory only
    base_url: str
    options: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class GlobalAIConfig:
    templates: Mapping[str, TemplateInfo]
    disabled: frozenset[str]
    catalogue: catalogue.Catalogue = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProjectAIConfig:
    aliases: Mapping[str, str]
    assignments: Mapping[str, CredentialInfo]  # provider → credential
    default_provider: str = ""  # serves bare model names that several (or no) providers list


@dataclass(frozen=True, slots=True)
class Candidate:
    """One step of a chain: the target, its adapter, and default parameters from a template."""

    target: Target
    adapter: ProviderAdapter
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.target.provider}:{self.target.model}"


def load_global() -> GlobalAIConfig:
    templates = {
        t.name: TemplateInfo(t.name, t.provider, t.model, dict(t.parameters or {}), t.enabled)
        for t in ProviderTemplate.objects.all()
    }
    disabled = frozenset(ProviderSetting.objects.filter(enabled=False).values_list("provider", flat=True))
    return GlobalAIConfig(templates, disabled, catalogue.load())


def load_project_ai(project_id: int) -> ProjectAIConfig:
    aliases = dict(ModelAlias.objects.filter(project_id=project_id).values_list("alias", "target"))
    assignments = {
        a.provider: CredentialInfo(
            a.credential_id,
            a.credential.api_key,
            a.credential.base_url,
            {str(k): str(v) for k, v in (a.credential.options or {}).items()},
        )
        for a in ProviderAssignment.objects.filter(project_id=project_id).select_related("credential")
    }
    default = Project.objects.filter(pk=project_id).values_list("default_ai_provider", flat=True).first()
    return ProjectAIConfig(aliases, assignments, default or "")


async def configs(greq: GatewayRequest) -> tuple[GlobalAIConfig, ProjectAIConfig]:
    project_id = greq.project.id
    config = greq.runtime.config
    glob = await config.get(("ai-global",), load_global)
    proj = await config.get(("ai-project", project_id), lambda: load_project_ai(project_id))
    return glob, proj


def adapter_for(provider: str) -> ProviderAdapter | None:
    try:
        return registry.get_adapter(provider)
    except (KeyError, LookupError, ValueError):
        return None


def model_not_found(model: str, offers: list[str] | None = None) -> OpenAIError:
    message = f"The model {model!r} does not exist or is not available to this project"
    if offers is not None:
        shown = ", ".join(offers[:15]) or "nothing yet (assign a provider)"
        more = f" and {len(offers) - 15} more" if len(offers) > 15 else ""
        message += f". It offers: {shown}{more} (GET /v1/models lists them)"
    return OpenAIError(message, code=ErrorCode.MODEL_NOT_FOUND, status=404, param="model")


def _specs(model: str, glob: GlobalAIConfig, proj: ProjectAIConfig) -> list[str]:
    if model in proj.aliases:
        return [s.strip() for s in proj.aliases[model].split(",") if s.strip()]
    return [model]


def bare_provider(name: str, glob: GlobalAIConfig, proj: ProjectAIConfig) -> str | OpenAIError:
    """The assigned provider that serves a bare model name (the rule in this module's docstring)."""
    usable = [p for p in sorted(proj.assignments) if p not in glob.disabled]
    serving = [p for p in usable if catalogue.serves(glob.catalogue.get(p, ()), name)]
    default = proj.default_provider if proj.default_provider in usable else ""
    if len(serving) == 1:
        return serving[0]
    if default and (default in serving or not serving):
        return default
    if serving:
        return OpenAIError(
            f"Several providers of this project serve {name!r} ({', '.join(serving)}): name one "
            f"({serving[0]}:{name}) or set the project's default_ai_provider",
            code=ErrorCode.MODEL_AMBIGUOUS,
            status=400,
            param="model",
        )
    return model_not_found(name)


def _candidate(
    spec: str, glob: GlobalAIConfig, proj: ProjectAIConfig, requested: str
) -> Candidate | OpenAIError:
    """The candidate for one spec, or the error that rules it out (kept to report if nothing is left)."""
    template = glob.templates.get(spec)
    parameters: Mapping[str, Any] = {}
    prefix, colon, rest = spec.partition(":")
    if template is not None:
        if not template.enabled:
            return model_not_found(requested)
        provider, model, parameters = template.provider, template.model, template.parameters
    elif colon and adapter_for(prefix) is not None:
        provider, model = prefix, rest  # model names may hold colons themselves (llama3:8b)
    else:
        found = bare_provider(spec, glob, proj)
        if isinstance(found, OpenAIError):
            return found
        provider, model = found, spec
    adapter = adapter_for(provider)
    if adapter is None or not model:
        return model_not_found(requested)
    if provider in glob.disabled:
        return OpenAIError(
            f"The provider {provider!r} is disabled",
            code=ErrorCode.PROVIDER_DISABLED,
            status=403,
            param="model",
        )
    credential = proj.assignments.get(provider)
    if credential is None:
        return OpenAIError(
            f"No credential is assigned to provider {provider!r} in this project",
            code=ErrorCode.PROVIDER_NOT_ASSIGNED,
            status=403,
            param="model",
        )
    target = Target(
        provider=provider,
        model=model,
        api_key=credential.api_key,
        base_url=(credential.base_url or adapter.default_base_url).rstrip("/"),
        options=credential.options,
    )
    return Candidate(target, adapter, parameters)


def resolve(
    model: str, glob: GlobalAIConfig, proj: ProjectAIConfig, *, explain: bool = True
) -> list[Candidate]:
    """The chain for `model`; raises the first step's error when no step is usable.

    `explain`: a model_not_found error lists what the project offers.
    """
    if not isinstance(model, str) or not model:
        raise OpenAIError("`model` is required", code=ErrorCode.INVALID_REQUEST, status=400, param="model")
    chain: list[Candidate] = []
    first_error: OpenAIError | None = None
    for spec in _specs(model, glob, proj):
        found = _candidate(spec, glob, proj, model)
        if isinstance(found, Candidate):
            chain.append(found)
        elif first_error is None:
            first_error = found
    if not chain:
        error = first_error or model_not_found(model)
        if explain and error.code == ErrorCode.MODEL_NOT_FOUND:
            error = model_not_found(model, [entry["id"] for entry in list_models(glob, proj)])
        raise error
    return chain


def list_models(glob: GlobalAIConfig, proj: ProjectAIConfig) -> list[dict[str, Any]]:
    """OpenAI's model objects for what this project can call: aliases, templates, the assigned providers'
    catalogued models (as `provider:model`, and bare where the bare name resolves to that provider)."""
    owned: dict[str, str] = {}
    for alias in sorted(proj.aliases):
        try:
            resolve(alias, glob, proj, explain=False)
        except OpenAIError:
            continue
        owned[alias] = "promptgate"
    for alias in sorted(proj.aliases):
        for spec in _specs(alias, glob, proj):
            found = _candidate(spec, glob, proj, alias)
            if isinstance(found, Candidate) and spec not in glob.templates:
                owned.setdefault(found.label, found.target.provider)
    for name, template in sorted(glob.templates.items()):
        if (
            template.enabled
            and template.provider in proj.assignments
            and template.provider not in glob.disabled
        ):
            owned.setdefault(name, template.provider)
            owned.setdefault(f"{template.provider}:{template.model}", template.provider)
    for provider in sorted(proj.assignments):
        if provider in glob.disabled:
            continue
        for model in glob.catalogue.get(provider, ()):
            owned.setdefault(f"{provider}:{model}", provider)
            if model not in proj.aliases and bare_provider(model, glob, proj) == provider:
                owned.setdefault(model, provider)
    return [{"id": mid, "object": "model", "created": 0, "owned_by": owner} for mid, owner in owned.items()]
