"""The judge engine shared by every scoring path (lm-eval filter, re-scoring)."""

from coconot_tasks.judge.engine import JudgeItem, JudgeResult, judge_items

__all__ = ["JudgeItem", "JudgeResult", "judge_items"]
