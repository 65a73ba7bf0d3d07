"""Routing: a classifier label -> the department and queue that handle it, from a table the city edits.

The default table covers the incident categories of the live system and the 12345 taxonomy used by
Chinese cities (first level, refined by some second-level labels: "城乡建设/安全生产" goes to the
emergency bureau, not housing). A city overrides or extends it with records (label, department,
queue[, category]) that the CLI reads from a JSON or CSV file; unknown labels go to the 12345
centre's general queue, so nothing is ever unrouted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

INCIDENT_CATEGORIES = ("waterlogging", "fire", "air_pollution", "traffic", "crowd", "pipe_burst", "manhole",
                       "noise", "sanitation", "public_safety", "other")

#: label -> (department, queue, incident category). Second-level keys are "first/second".
DEFAULT_ROUTES: dict[str, tuple[str, str, str]] = {
    # incident categories of the live system
    "waterlogging": ("市水务局", "排水防涝抢险", "waterlogging"),
    "fire": ("市消防救援支队（应急管理局）", "119火警出动", "fire"),
    "air_pollution": ("市生态环境局", "大气污染执法", "air_pollution"),
    "traffic": ("市公安局交通警察支队", "交通事故与拥堵疏导", "traffic"),
    "crowd": ("市公安局", "大型活动与人群聚集安保", "crowd"),
    "pipe_burst": ("市水务局（自来水公司）", "供水管网抢修", "pipe_burst"),
    "manhole": ("市城市管理和综合执法局", "市政设施（井盖）维护", "manhole"),
    "noise": ("市生态环境局", "噪声污染投诉", "noise"),
    "sanitation": ("市城市管理和综合执法局", "环境卫生", "sanitation"),
    "public_safety": ("市公安局", "社会治安110联动", "public_safety"),
    "other": ("市政务服务数据管理局（12345热线）", "综合受理", "other"),
    # 12345 first-level taxonomy
    "城乡建设": ("市住房和城乡建设局", "城乡建设", "other"),
    "城乡建设/安全生产": ("市应急管理局", "安全生产隐患", "public_safety"),
    "城乡建设/城市建设和市政管理": ("市城市管理和综合执法局", "市政管理", "other"),
    "城乡建设/城乡规划": ("市规划和自然资源局", "规划与违建", "other"),
    "城乡建设/住房保障与房地产": ("市住房和城乡建设局", "住房保障与物业", "other"),
    "城乡建设/工程质量": ("市住房和城乡建设局", "工程质量与施工安全", "other"),
    "城乡建设/建筑市场": ("市住房和城乡建设局", "建筑市场监管", "other"),
    "城乡建设/国有土地上房屋征收与补偿": ("市住房和城乡建设局", "房屋征收补偿", "other"),
    "城乡建设/集体土地上房屋拆迁与补偿": ("市规划和自然资源局", "集体土地拆迁补偿", "other"),
    "城乡建设/村镇建设": ("市农业农村局", "村镇建设", "other"),
    "环境保护": ("市生态环境局", "环境污染投诉", "air_pollution"),
    "环境保护/建设项目审批": ("市生态环境局", "环评审批", "other"),
    "交通运输": ("市交通运输局", "交通运输服务", "traffic"),
    "交通运输/出租车管理": ("市交通运输局", "出租车与网约车", "other"),
    "交通运输/邮政管理": ("市邮政管理局", "邮政快递", "other"),
    "政法": ("市公安局", "治安与户政", "public_safety"),
    "政法/交通管理": ("市公安局交通警察支队", "交通管理", "traffic"),
    "政法/法律服务": ("市司法局", "法律服务", "other"),
    "政法/仲裁与调解": ("市司法局", "人民调解", "other"),
    "政法/诉讼": ("市中级人民法院", "诉讼服务", "other"),
    "卫生计生": ("市卫生健康委员会", "医疗卫生", "other"),
    "卫生计生/食品药品监管": ("市市场监督管理局", "食品药品安全", "other"),
    "教育文体": ("市教育局", "教育服务", "other"),
    "教育文体/文化": ("市文化广电旅游局", "文化", "other"),
    "教育文体/文物管理": ("市文化广电旅游局", "文物保护", "other"),
    "教育文体/体育": ("市体育局", "体育", "other"),
    "劳动和社会保障": ("市人力资源和社会保障局", "劳动保障与社保", "other"),
    "商贸旅游": ("市商务局", "商贸流通", "other"),
    "商贸旅游/旅游管理": ("市文化广电旅游局", "旅游投诉", "other"),
    "商贸旅游/市场监管": ("市市场监督管理局", "市场监管", "other"),
    "商贸旅游/质监检验检疫": ("市市场监督管理局", "质量监督", "other"),
    "民政": ("市民政局", "民政服务", "other"),
    "农村农业": ("市农业农村局", "农业农村", "other"),
    "农村农业/水利水电": ("市水务局", "水利水电", "other"),
    "农村农业/林业管理": ("市林业和园林局", "林业", "other"),
    "国土资源": ("市规划和自然资源局", "土地与矿产", "other"),
    "国土资源/海洋气象地震": ("市气象局", "气象与防灾", "other"),
    "经济管理": ("市发展和改革委员会", "经济运行", "other"),
    "经济管理/金融财税": ("市财政局", "财税金融", "other"),
    "经济管理/安全生产": ("市应急管理局", "安全生产", "public_safety"),
    "科技与信息产业": ("市工业和信息化局", "信息化与电信", "other"),
    "科技与信息产业/科学技术": ("市科学技术局", "科技", "other"),
    "党务政务": ("市政务服务数据管理局（12345热线）", "政务服务", "other"),
    "纪检监察": ("市纪委监委", "信访举报", "other"),
}


@dataclass(frozen=True)
class Route:
    label: str
    department: str
    queue: str
    category: str  # the incident category the live system uses for this label
    matched: str  # the table key that matched ("" when the fallback was used)


class Router:
    """label (and optional second-level label) -> Route; table = defaults, then the city's overrides."""

    def __init__(self, overrides: Mapping[str, tuple[str, str, str] | Mapping[str, str]] | None = None,
                 use_defaults: bool = True, fallback: str = "other") -> None:
        self.table: dict[str, tuple[str, str, str]] = dict(DEFAULT_ROUTES) if use_defaults else {}
        for key, val in (overrides or {}).items():
            self.table[str(key).strip()] = self._entry(key, val)
        if fallback not in self.table:
            self.table[fallback] = DEFAULT_ROUTES["other"]
        self.fallback = fallback

    @staticmethod
    def _entry(key: str, val) -> tuple[str, str, str]:
        if isinstance(val, Mapping):
            dept, queue, cat = val.get("department", ""), val.get("queue", ""), val.get("category", "")
        else:
            vals = list(val) + ["", "", ""]
            dept, queue, cat = vals[0], vals[1], vals[2]
        if not str(dept).strip():
            raise ValueError(f"route for {key!r} has no department")
        cat = str(cat).strip() or (str(key) if str(key) in INCIDENT_CATEGORIES else "other")
        if cat not in INCIDENT_CATEGORIES:
            raise ValueError(f"route for {key!r}: unknown incident category {cat!r} "
                             f"(one of {', '.join(INCIDENT_CATEGORIES)})")
        return str(dept).strip(), str(queue).strip() or str(dept).strip(), cat

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, str]], use_defaults: bool = True) -> "Router":
        """Rows with label, department, queue and optionally category (a CSV or JSON list the city edits)."""
        table = {}
        for i, rec in enumerate(records, start=1):
            label = str(rec.get("label", "") or "").strip()
            if not label:
                raise ValueError(f"routing record {i} has no label")
            table[label] = rec
        return cls(table, use_defaults=use_defaults)

    def route(self, label: str, sub_label: str | None = None) -> Route:
        label = (label or "").strip()
        keys = ([f"{label}/{sub_label.strip()}"] if sub_label else []) + [label]
        if "/" in label:
            keys.append(label.split("/", 1)[0])
        for key in keys:
            if key in self.table:
                dept, queue, cat = self.table[key]
                return Route(label, dept, queue, cat, key)
        dept, queue, cat = self.table[self.fallback]
        return Route(label, dept, queue, cat, "")

    def category(self, label: str) -> str:
        """The incident category of a label: itself when it is one, else what its route says."""
        return label if label in INCIDENT_CATEGORIES else self.route(label).category
