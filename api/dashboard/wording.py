"""The words the batch page shows for what the readers report in English: the format, the encoding,
the fields, and the commonest bad-row messages in Chinese. A message without a Chinese pattern here is
shown as the reader wrote it (it names the file, row and column either way); the page keeps the
original as the cell's tooltip."""

from __future__ import annotations

import re

FORMAT_NAMES = {
    "survey-csv": "问卷 CSV",
    "survey-xlsx": "问卷 Excel",
    "survey-jsonl": "问卷 JSONL",
    "transcript-jsonl": "通话转写 JSONL",
    "transcript-text": "通话转写文本",
}
ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8（带 BOM）",
    "gb18030": "GBK / GB18030",
    "gbk": "GBK",
}
FIELD_NAMES = {
    "text": "回答内容",
    "date": "日期",
    "nps": "NPS 推荐度",
    "csat": "满意度",
    "id": "编号",
    "turns": "通话轮次",
    "speaker": "说话人",
    "meta": "元数据",
}
_SKIPPED = {"row": "该行未分析", "turn": "该句未分析", "call": "该通话未分析", "line": "该行未分析"}
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^empty text in column '(.+)'; (row|turn) skipped$"), "“{0}”列为空，{skipped}"),
    (re.compile(r"^empty text; (turn) skipped$"), "内容为空，{skipped}"),
    (
        re.compile(r"^impossible date '(.+?)': .*; field left out \(column '(.+)'\)$"),
        "日期“{0}”不存在，已忽略该字段（“{1}”列）",
    ),
    (
        re.compile(r"^unrecognised date '(.+?)' \(expected .*\); field left out \(column '(.+)'\)$"),
        "无法识别的日期“{0}”（应写作 2026-11-02 或 2026年11月2日），已忽略该字段（“{1}”列）",
    ),
    (
        re.compile(
            r"^(nps|csat) (?:must be a (?:whole )?number from|out of range) (\S+?)(?: to |–)(\S+?)(?:,? got |: )"
            r"'?(.*?)'?; field left out \(column '(.+)'\)$"
        ),
        "“{3}”不是 {1}–{2} 的整数，已忽略该字段（“{4}”列）",
    ),
    (re.compile(r"^unknown speaker '(.+)'; (turn) skipped$"), "无法识别的说话人“{0}”，{skipped}"),
    (re.compile(r"^(\d[\d,]*) characters; at most (\d[\d,]*) .*$"), "内容有 {0} 个字符，超过上限 {1}，该条未分析"),
)


def row_problem(message: str) -> str:
    """A bad row's message in Chinese where its pattern is known, else as given."""
    for pattern, chinese in _PATTERNS:
        found = pattern.match(message)
        if found is not None:
            groups = found.groups()
            skipped = next((_SKIPPED[g] for g in groups if g in _SKIPPED), "")
            return chinese.format(*groups, skipped=skipped)
    return message
