"""The bot: a Prefect-free session that readies its device, leases accounts through its pools, runs attempts of
its routine under the restart policy and supervises them (docs/supervision.md)."""

from emufleet.bot.accounts import AccountBudget, BotAccounts
from emufleet.bot.assets import EngineAssets, load_assets

__all__ = ["AccountBudget", "BotAccounts", "EngineAssets", "load_assets"]
