"""The pydantic schema of scenario YAML (see :mod:`emufleet.sim.scenario` for the format and its meaning).

Every model forbids unknown keys; :func:`emufleet.validation.validate` turns violations into located
:class:`~emufleet.errors.ScenarioError` s.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emufleet.settings import GAME
from emufleet.vision.space import RegionList

__all__ = ["AfterModel", "AnrDialogModel", "ButtonModel", "CompositionModel", "DialogModel", "DialogsModel",
           "OverlayModel", "PopupDialogModel", "RequiresFileModel", "ScenarioModel", "ScreenModel", "Space",
           "StateModel", "TapModel"]

Space = Literal["template", "device"]


# -- the YAML models -------------------------------------------------------------------------------------------
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScreenModel(Strict):
    width: int = Field(default=540, gt=0, le=8192)
    height: int = Field(default=960, gt=0, le=8192)


class OverlayModel(Strict):
    template: str | None = None
    image: str | None = None
    at: tuple[int, int] | None = None
    space: Space | None = None

    @model_validator(mode="after")
    def _one_source(self) -> OverlayModel:
        if (self.template is None) == (self.image is None):
            raise ValueError("an overlay needs exactly one of 'template' or 'image'")
        return self


class CompositionModel(Strict):
    base: str
    overlays: list[OverlayModel] = []


class ButtonModel(Strict):
    rect: RegionList  # [x1, y1, x2, y2], half-open, in ``space``
    space: Space = "template"


class TapModel(ButtonModel):
    to: str


class DialogModel(Strict):
    """A fault dialog: a PNG placed at ``at`` (device px unless ``space: template``), drawn over any screen."""

    image: str
    at: tuple[int, int] = (0, 0)
    space: Space = "device"


class PopupDialogModel(DialogModel):
    close: ButtonModel


class AnrDialogModel(DialogModel):
    wait: ButtonModel
    close_app: ButtonModel


class DialogsModel(Strict):
    popup: PopupDialogModel | None = None
    anr: AnrDialogModel | None = None


class AfterModel(Strict):
    ms: int = Field(ge=0)
    to: str


class RequiresFileModel(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    path: str = Field(pattern=r"^/")
    else_: str = Field(alias="else")


class StateModel(Strict):
    image: str | CompositionModel
    taps: list[TapModel] = []
    after: AfterModel | None = None
    keys: dict[str, str] = {}
    requires_file: RequiresFileModel | None = None


class ScenarioModel(Strict):
    version: Literal[1]
    name: str = Field(min_length=1)
    screen: ScreenModel = ScreenModel()
    template_set: str | None = None
    package: str = GAME.package
    package_version: str = Field("1.0.0", pattern=r"^[0-9A-Za-z._-]{1,40}$")
    activity: str = GAME.activity
    initial: str
    on_app_start: str | None = None
    on_app_stop: str | None = None
    states: dict[str, StateModel] = Field(min_length=1)
    dialogs: DialogsModel = DialogsModel()
