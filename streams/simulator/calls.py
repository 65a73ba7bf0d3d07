"""Chinese citizen-hotline (12345) calls: incident reports for scenarios and routine background calls.

Texts are assembled from per-category templates (colloquial variants, Cantonese-flavoured Mandarin
as heard in Guangzhou) filled with the cell's invented street / estate / landmark names and a few
strength-dependent details (how deep the water is, how thick the smoke). About 15 % of scenario calls
are follow-ups of an earlier caller ("我刚才已经打过电话了，..."): near-duplicates to merge. Calls carry the place the
12345 system geocoded (cell, district, address; coordinates on ~85 %) and no category: classifying
them is the hotline detector's job.

Background: routine calls (noise, sanitation, other) at `rate_per_hour` (default 240/h, a
scaled-down share of Guangzhou 12345's ~1,000 calls/h of which most are not place incidents), with
a daily cycle (few at night, peaks late morning and evening). Every call is a pure function of
(seed, hour bucket) or (scenario, index), so generation is deterministic and chunk-independent.
"""

from __future__ import annotations

import math

import numpy as np

from streams.schemas import HotlineCall
from streams.simulator.world import Place, World

CHANNELS = ("phone", "phone", "phone", "phone", "phone", "app", "wechat", "web")

_OPEN = ("你好，", "喂，你好，", "您好，我要反映个情况，", "喂喂，", "", "", "麻烦一下，", "我想投诉一下，",
         "你好呀，", "12345吗？")
_CLOSE = ("", "", "麻烦尽快派人来看看。", "请赶紧处理！", "谢谢。", "你们快点来啊！", "唔该晒。",
          "已经好久了，没人管。", "希望相关部门重视一下。")

TEMPLATES: dict[str, tuple[str, ...]] = {
    "waterlogging": (
        "刚刚落完暴雨，{street}和{street2}交界那里全部水浸，{depth}",
        "{estate}对面的下穿隧道积水了，{depth}，已经有车死火",
        "我在{landmark}这里，雨水倒灌进铺头，{depth}，沙包都挡不住",
        "{street}那个低洼路段又浸了，{depth}，行人都要绕路走",
        "{street}这边水浸街了，水{depth}，车都过不去了",
        "{estate}门口积水好深，{depth}，老人小孩出不了门",
        "{landmark}那里下完雨全是水，{depth}，有车熄火在里面",
        "{street}{num}号附近路面积水严重，{depth}，排水口好像堵了",
        "下这么大雨，{estate}地下车库进水了，{depth}",
        "{street}隧道里面水浸，{depth}，好危险",
        "我们{estate}这边又水浸了，每次落大雨都这样，{depth}",
        "{landmark}附近马路变成河了，{depth}",
    ),
    "fire": (
        "{street}那边有火灾，{smoke}，好多人在跑出来",
        "我看到{landmark}后面有明火，{smoke}，好像是电动车着火",
        "{estate}厨房着火了，{smoke}，消防通道被车堵住了",
        "{estate}有栋楼着火了，好大烟，{smoke}",
        "{street}{num}号有火，{smoke}，快叫消防",
        "{landmark}旁边冒黑烟，{smoke}，好像是着火",
        "我闻到好浓的烧焦味，{estate}那边{smoke}",
        "{street}一间铺头着火，{smoke}，里面可能有人",
        "{estate}楼上起火了，{smoke}，赶快来！",
    ),
    "air_pollution": (
        "{estate}这几天空气好差，{haze}，老人家一直咳",
        "{landmark}旁边有人露天焚烧垃圾，{haze}",
        "{street}那边的厂晚上偷偷排气，{haze}，臭到睡不着",
        "{street}这边空气好差，一股刺鼻的味道，{haze}",
        "{estate}附近有工厂在排废气吧，{haze}，喉咙好难受",
        "今天{landmark}周围灰蒙蒙的，{haze}，是不是有人烧东西",
        "{street}一带有很浓的烟味，{haze}，窗都不敢开",
        "附近工地扬尘好大，{estate}这边{haze}",
    ),
    "traffic": (
        "{street}和{street2}路口红绿灯坏了，{jam}",
        "{landmark}门口一辆货车和电动车撞了，{jam}",
        "高峰期{street}出了事故，{jam}，公交车都过不去",
        "{street}发生车祸了，{jam}",
        "{landmark}路口两车相撞，{jam}，有人受伤",
        "{street}{num}号门口塞车塞到死，{jam}，前面好像出事了",
        "{street}往{street2}方向堵死了，{jam}",
        "{landmark}有辆车翻了，{jam}，快派交警来",
        "{street}有追尾事故，{jam}",
    ),
    "crowd": (
        "{station}出站口排长龙，{crowd}，要求加派人手",
        "{station}附近好多人聚集，{crowd}，有点乱",
        "{station}人太多了，{crowd}，好危险",
        "{station}闸机口挤爆了，{crowd}，没人疏导",
        "{station}出口好多人，{crowd}，小朋友差点被挤倒",
        "{station}站台上人挤人，{crowd}，要出事的",
    ),
    "pipe_burst": (
        "{street}中间爆水管，{pipe}，车都开不过去",
        "{estate}楼下总水管漏水，{pipe}，整个小区水压好低",
        "{landmark}门口的消防栓被撞坏了，{pipe}",
        "{street}有条水管爆了，{pipe}",
        "{estate}门口路面冒水，{pipe}，家里都停水了",
        "{street}{num}号附近地下喷水出来，{pipe}",
        "{landmark}那里自来水管破了，{pipe}，水浸到马路上",
        "我们{estate}突然没水了，楼下路面在冒水，{pipe}",
    ),
    "noise": (
        "{street}每天早上五点就有货车卸货，吵死了",
        "{estate}楼上每晚拖椅子、跳来跳去，沟通过没用",
        "{landmark}的大排档开到凌晨三点，好吵",
        "{estate}楼下有人半夜唱卡拉OK，吵到睡不着",
        "{street}工地晚上还在施工，好吵",
        "{estate}隔壁装修天天电钻，周末都不停",
        "{landmark}广场舞音响开得太大声了",
        "{street}那边酒吧好吵，凌晨都还在放音乐",
    ),
    "sanitation": (
        "{street}的化粪池好像满了，一股臭味",
        "{estate}门口的垃圾站污水流到路上",
        "{landmark}附近有人乱扔大件家具",
        "{estate}垃圾桶满了好几天都没人清，好臭",
        "{street}路边有人乱倒建筑垃圾",
        "{landmark}附近的公厕好脏，没人打扫",
        "{estate}楼道里老鼠好多，希望来消杀一下",
        "{street}有死老鼠，一直没人处理",
    ),
    "other": (
        "我想咨询一下{street}附近办社保在哪里办",
        "{estate}物业乱收费，想投诉",
        "{street}的路灯坏了好久了，晚上好黑",
        "{landmark}公交站的站牌被撞歪了",
        "请问{street}那边的共享单车乱停谁管",
        "{estate}电梯又坏了，老人上不了楼",
    ),
}

# strength-graded details (index by strength band: weak, medium, strong)
_DETAIL: dict[str, tuple[tuple[str, ...], ...]] = {
    "depth": (("有一点点积水", "到脚踝左右", "水浅浅的但是退得好慢"),
              ("到小腿了", "差不多一尺深", "到膝盖下面"),
              ("到膝盖了", "差不多到腰", "车轮都淹了一半")),
    "smoke": (("有一点烟", "好像有点烟味"), ("烟好大", "看到有火光"), ("火好大，黑烟滚滚", "整栋楼都是烟")),
    "haze": (("有点臭", "空气有点差"), ("呛得咳嗽", "味道好浓"), ("呛到眼睛都睁不开", "整条街都是烟雾")),
    "jam": (("车开得好慢", "有点塞"), ("塞了一公里", "完全不动了"), ("整条路瘫痪了", "塞了几公里，一动不动")),
    "crowd": (("人有点多", "排队好长"), ("挤到走不动", "人山人海"), ("已经有人被挤倒了", "根本动不了，好恐怖")),
    "pipe": (("有点渗水", "地上湿了一片"), ("水冒得好大", "水流到马路上了"), ("水喷到一人多高", "整条路都是水")),
}


def band_index(strength: float) -> int:
    return 0 if strength < 1 / 3 else (1 if strength < 2 / 3 else 2)


def compose(rng: np.random.Generator, category: str, place: Place, strength: float = 0.5,
            station: str = "", street2: str = "") -> str:
    """One call text for `category` at `place`."""
    tmpl = TEMPLATES[category][int(rng.integers(len(TEMPLATES[category])))]
    b = band_index(strength)
    fill = {k: v[b][int(rng.integers(len(v[b])))] for k, v in _DETAIL.items()}
    body = tmpl.format(street=place.street, estate=place.estate, landmark=place.landmark,
                       num=int(rng.integers(1, 300)), station=station or place.landmark,
                       street2=street2 or place.estate, **fill)
    opener = _OPEN[int(rng.integers(len(_OPEN)))]
    closer = _CLOSE[int(rng.integers(len(_CLOSE)))]
    punct = "" if body.endswith(("！", "。", "？")) else "。"
    return f"{opener}{body}{punct}{closer}"


_FOLLOW_UP = ("我刚才已经打过电话了，", "第二次打了，", "我再反映一次，", "之前报过了，怎么还没人来？")


def make_call(world: World, rng: np.random.Generator, call_id: str, ts: float, cell: str, category: str,
              strength: float = 0.5, follow_up: bool = False) -> HotlineCall:
    """A geocoded call from somewhere in `cell` about `category` (`follow_up`: a caller ringing again)."""
    c = world.city.cells[cell]
    place = world.place(cell)
    text = compose(rng, category, place, strength, station=world.station_name.get(cell, ""))
    if follow_up:
        text = _FOLLOW_UP[int(rng.integers(len(_FOLLOW_UP)))] + text
    half = world.city.cell_m / 111_320.0 / 2
    has_xy = rng.random() < 0.85
    lat = c.lat + float(rng.uniform(-0.9, 0.9)) * half
    lon = c.lon + float(rng.uniform(-0.9, 0.9)) * half / math.cos(math.radians(c.lat))
    return HotlineCall(
        call_id=call_id, ts=float(ts), text=text, channel=CHANNELS[int(rng.integers(len(CHANNELS)))],
        lat=round(lat, 6) if has_xy else None, lon=round(lon, 6) if has_xy else None, cell=cell,
        district=c.district, address=f"{world.district_name(cell)}{place.address(int(rng.integers(1, 300)))}",
        lang="zh")


def call_cycle(h: np.ndarray | float):
    """Relative call volume by local hour (mean ~1 over a day): quiet nights, busy days."""
    h = np.asarray(h)
    return 0.15 + 1.1 * np.exp(-((h - 10.5) / 2.5) ** 2) + 0.9 * np.exp(-((h - 15.5) / 2.5) ** 2) \
        + 0.7 * np.exp(-((h - 20.5) / 2.0) ** 2)


_CYCLE_MEAN = float(call_cycle(np.arange(0.0, 24.0, 0.05)).mean())
ROUTINE = (("noise", 0.35), ("sanitation", 0.35), ("other", 0.30))


def background_calls(world: World, seed: int, hour: int, rate_per_hour: float,
                     offset_s: float = 8 * 3600) -> list[HotlineCall]:
    """The routine calls of one hour bucket (hour = epoch hours), deterministic for (seed, hour)."""
    rng = np.random.default_rng([seed, 5, hour])
    h_local = ((hour * 3600 + offset_s) % 86_400) / 3600.0 + 0.5
    n = int(rng.poisson(rate_per_hour * float(call_cycle(h_local)) / _CYCLE_MEAN))
    cells = list(world.city.cells)
    w = np.array([world.urbanity[c] for c in cells])
    picks = rng.choice(len(cells), size=n, p=w / w.sum()) if n else []
    cats = [c for c, _ in ROUTINE]
    probs = [p for _, p in ROUTINE]
    out = []
    for j, ci in enumerate(picks):
        cat = cats[int(rng.choice(len(cats), p=probs))]
        ts = hour * 3600.0 + float(rng.uniform(0, 3600))
        out.append(make_call(world, rng, f"call-{seed}-bg-{hour}-{j}", ts, cells[ci], cat, 0.5))
    return out
