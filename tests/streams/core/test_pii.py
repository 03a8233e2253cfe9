"""streams.core.pii: a generated holdout corpus of identifiers (all must be found, with the right
field path and kind) and a look-alike corpus (none may be flagged).

The generators compute check digits with their own textbook formulas, not the module's code.
Everything is seeded, so a failure reproduces; the failing value is in the assertion message.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from streams.core.pii import IdentifierHit, contains_identifier, find_identifier, normalise

# --- base records ---------------------------------------------------------------------------

INCIDENT = {
    "event_id": "2f1b6a57-2c1d-4d7e-9a53-0c2a44b1e0aa", "platform_id": "swiftmeal", "occurred_at": 1780271400000,
    "incident_id": "inc-1", "site_id": "swif-00001", "division_code": "440305000000", "category": "FALL",
    "severity": "MINOR", "weather": "RAIN", "worker_ref": "3f" * 32, "order_ref": None, "insured": True,
    "location": {"lat": 22.543210, "lon": 113.934567}, "reported_at": 1780271700000,
    "description": "slipped on wet stairs",
}
SITE = {
    "event_id": "7d4f7c2e-8a51-4d0b-b6a9-3c1e2f4a5b6c", "platform_id": "swiftmeal", "occurred_at": 1780271400000,
    "site_id": "swif-00002", "action": "OPENED", "site_type": "RIDER_STATION", "division_code": "310101002000",
    "location": {"lat": 31.230416, "lon": 121.473701},
    "facilities": ["REST_AREA", "DRINKING_WATER", "CHARGING", "TOILET"], "capacity_workers": 40,
}
HEADCOUNT = {
    "event_id": "0b5e2f7c-1a2b-4c3d-8e9f-001122334455", "platform_id": "cargolink", "occurred_at": 1780271400000,
    "site_id": "carg-00017", "division_code": "110105000000", "period_start": 1780268400000,
    "period_end": 1780271400000, "active_workers": 120, "new_workers": 3, "departed_workers": 1,
    "employed_workers": 20, "non_standard_workers": 60, "independent_workers": 40, "insured_workers": 110,
    "long_hours_workers": 7,
}

# --- generators (independent implementations of the check digits) ---------------------------

PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
             50, 51, 52, 53, 54, 61, 62, 63, 64, 65]
REAL_AREAS = ["110101", "110105", "110108", "120101", "130102", "140105", "210102", "220102", "230103",
              "310101", "310104", "310115", "320102", "320506", "330106", "340104", "350203", "360102",
              "370202", "410105", "420106", "430104", "440103", "440305", "440306", "450103", "460105",
              "500103", "510104", "520102", "530102", "610113", "620102", "650102"]


def area_code(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(REAL_AREAS)
    return f"{rng.choice(PROVINCES)}{rng.randint(1, 30):02d}{rng.randint(1, 40):02d}"


def random_date(rng: random.Random, start: int, end: int) -> dt.date:
    first, last = dt.date(start, 1, 1).toordinal(), dt.date(end, 12, 31).toordinal()
    return dt.date.fromordinal(rng.randint(first, last))


def id_check(first17: str) -> str:
    """GB 11643 / ISO 7064 MOD 11-2: weights 2^(17-i) mod 11; check = (12 - S mod 11) mod 11."""
    s = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(first17))
    value = (12 - s % 11) % 11
    return "X" if value == 10 else str(value)


def resident_id(rng: random.Random) -> str:
    body = area_code(rng) + random_date(rng, 1900, 2099).strftime("%Y%m%d") + f"{rng.randint(0, 999):03d}"
    return body + id_check(body)


def legacy_id(rng: random.Random) -> str:
    return area_code(rng) + random_date(rng, 1900, 1999).strftime("%y%m%d") + f"{rng.randint(0, 999):03d}"


def luhn_complete(partial: str) -> str:
    """Append the digit that makes ``partial`` Luhn-valid."""
    total = 0
    for i, c in enumerate(reversed(partial)):   # the check digit will sit at position 0
        d = int(c)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return partial + str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number][::-1]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits)) % 10 == 0


def card(rng: random.Random) -> str:
    issuer = rng.choice(["unionpay16", "unionpay19", "visa16", "visa19", "mc51", "mc2"])
    if issuer.startswith("unionpay"):
        prefix, length = "62" + rng.choice(["2202", "2848", "1700", "2588", "1483", "0000"]), int(issuer[-2:])
    elif issuer.startswith("visa"):
        prefix, length = "4", int(issuer[-2:])
    elif issuer == "mc51":
        prefix, length = str(rng.randint(51, 55)), 16
    else:
        prefix, length = str(rng.randint(2221, 2720)), 16
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return luhn_complete(body)


def format_card(rng: random.Random, number: str) -> str:
    style = rng.choice(["plain", "space4", "dash4", "spaced", "fullwidth", "zw"])
    if style == "plain":
        return number
    if style in ("space4", "dash4"):
        sep = " " if style == "space4" else "-"
        return sep.join(number[i:i + 4] for i in range(0, len(number), 4))
    if style == "spaced":
        return " ".join(number)
    if style == "fullwidth":
        return " ".join(fullwidth(number[i:i + 4]) for i in range(0, len(number), 4))
    return "\u200b".join(number)


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text)


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\ufeff", "\u2060"]


def phone(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def format_phone(rng: random.Random, number: str) -> str:
    a, b, c = number[:3], number[3:7], number[7:]
    style = rng.randrange(16)
    return [
        number,
        f"{a} {b} {c}",
        f"{a}-{b}-{c}",
        f"{a}.{b}.{c}",
        f"+86 {number}",
        f"+86-{a}-{b}-{c}",
        f"86{number}",
        f"0086 {a} {b} {c}",
        f"(+86){number}",
        f"(+86) {a}-{b}-{c}",
        fullwidth(number),
        fullwidth(f"{a}-{b}-{c}").replace("-", "－"),
        rng.choice(ZERO_WIDTH).join(number),
        " ".join(number),
        number.translate(rng.choice([ARABIC_INDIC, DEVANAGARI])),
        f"{a}\u3000{b}．{c}",
    ][style]


NAMES = ["zhang.wei", "li_na", "wangfang88", "liu.yang.1990", "chen-jie", "rider2024", "x.y.z", "kevin+orders"]
DOMAINS = ["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com.cn", "mail.example.cn", "foxmail.com"]


def email(rng: random.Random) -> str:
    address = f"{rng.choice(NAMES)}{rng.randint(0, 999) if rng.random() < 0.5 else ''}@{rng.choice(DOMAINS)}"
    style = rng.randrange(4)
    if style == 1:
        return address.replace("@", "＠")
    if style == 2:
        return fullwidth(address)
    if style == 3:
        return address.replace("@", " @ ")
    return address


PROVINCE_CHARS = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def plate(rng: random.Random) -> str:
    head = rng.choice(PROVINCE_CHARS) + rng.choice(PLATE_LETTERS)
    sep = rng.choice(["", "·", " ", "-"])
    kind = rng.randrange(4)
    if kind == 0:      # ordinary: up to two letters among five
        chars = [rng.choice("0123456789") for _ in range(5)]
        for pos in rng.sample(range(5), rng.randint(0, 2)):
            chars[pos] = rng.choice(PLATE_LETTERS)
        tail = "".join(chars)
    elif kind == 1:    # new energy, small car
        tail = rng.choice("DF") + rng.choice(PLATE_LETTERS + "0123456789") + f"{rng.randint(0, 9999):04d}"
    elif kind == 2:    # new energy, large car
        tail = f"{rng.randint(0, 99999):05d}" + rng.choice("DF")
    else:              # police / driving school / trailer
        tail = f"{rng.randint(0, 9999):04d}" + rng.choice("警学挂")
    return head + sep + tail


TEMPLATES = [
    "{x}",
    "骑手在配送途中摔倒，联系电话{x}，已送医。",
    "电话{x}谢谢",
    "Rider slipped on wet stairs; customer {x} called the station at 13:40.",
    "备注：{x}",
    "worker said the number is {x} and left",
    "顾客留言({x})要求改派，订单2单已取消",
    "事故车辆 {x} 在路口与电动车相撞，天气下雨",
    "联系方式: {x}. 请勿外传",
    "ID:{x}",
    "injured on 2026-06-01, contact {x}",
    "{x} 已确认",
]


def embed(rng: random.Random, value: str) -> str:
    return rng.choice(TEMPLATES).format(x=value)


def generated(kind: str, make, count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(kind, make(rng)) for _ in range(count)]


def holdout() -> list[tuple[str, str]]:
    corpus = []
    corpus += generated("resident_id", resident_id, 2000, 1)
    corpus += generated("resident_id", lambda r: r.choice([str.lower, str, fullwidth])(resident_id(r))
                        if r.random() < 0.5 else (lambda s: f"{s[:6]} {s[6:14]} {s[14:]}")(resident_id(r)), 300, 2)
    corpus += generated("resident_id", legacy_id, 500, 3)
    corpus += generated("bank_card", lambda r: format_card(r, card(r)), 1000, 4)
    corpus += generated("mobile_phone", lambda r: format_phone(r, phone(r)), 1000, 5)
    corpus += generated("email", email, 500, 6)
    corpus += generated("vehicle_plate", plate, 500, 7)
    return corpus


HOLDOUT = holdout()


def with_value(base: dict, path: str, value: str) -> dict:
    record = copy.deepcopy(base)
    if path.startswith("facilities["):
        record["facilities"][int(path[len("facilities["):-1])] = value
    else:
        record[path] = value
    return record


def test_corpus_sizes_and_generators_are_sound():
    assert len(HOLDOUT) >= 5800
    ids = [v for k, v in HOLDOUT[:2000]]
    assert len(set(ids)) > 1990
    assert all(len(v) == 18 and id_check(v[:17]) == v[17] for v in ids)
    rng = random.Random(0)
    assert all(luhn_ok(card(rng)) for _ in range(1000))
    assert luhn_ok("4111111111111111") and id_check("11010519491231002") == "X"


@pytest.mark.parametrize("field", ["description", "site_id", "incident_id"])
def test_every_identifier_is_found_in_incident_fields(field):
    rng = random.Random(hash(field) % 1000)
    misses = []
    for kind, value in HOLDOUT:
        text = embed(rng, value) if field == "description" else value
        hit = find_identifier(with_value(INCIDENT, field, text))
        if hit != IdentifierHit(field, kind):
            misses.append((kind, text, hit))
    assert not misses, f"{len(misses)} of {len(HOLDOUT)} missed, e.g. {misses[:5]}"


def test_every_identifier_is_found_in_list_items_and_other_event_types():
    rng = random.Random(99)
    misses = []
    for kind, value in HOLDOUT:
        record, path = rng.choice([
            (with_value(SITE, "facilities[2]", value), "facilities[2]"),
            (with_value(HEADCOUNT, "site_id", value), "site_id"),
            ({**INCIDENT, "location": {"lat": 22.5, "lon": 113.9, "note": embed(rng, value)}}, "location.note"),
        ])
        hit = find_identifier(record)
        if hit != IdentifierHit(path, kind):
            misses.append((kind, value, path, hit))
    assert not misses, f"{len(misses)} missed, e.g. {misses[:5]}"


@pytest.mark.parametrize("text, kind", [
    ("１３８００１３８０００", "mobile_phone"),
    ("１３８－００１３－８０００", "mobile_phone"),
    ("138\u200b0013\u200c8000", "mobile_phone"),
    ("1\u20603\ufeff8\u200d00138000", "mobile_phone"),
    ("1 3 8 0 0 1 3 8 0 0 0", "mobile_phone"),
    ("١٣٨٠٠١٣٨٠٠٠", "mobile_phone"),
    ("①③⑧⓪⓪①③⑧⓪⓪⓪", "mobile_phone"),
    ("𝟏𝟑𝟖𝟎𝟎𝟏𝟑𝟖𝟎𝟎𝟎", "mobile_phone"),
    ("(+86)13800138000", "mobile_phone"),
    ("+86 (138) 0013-8000", "mobile_phone"),
    ("8613800138000", "mobile_phone"),
    ("0086-138-0013-8000", "mobile_phone"),
    ("身份证号11010519491231002X，已登记", "resident_id"),
    ("１１０１０５１９４９１２３１００２ｘ", "resident_id"),
    ("110105\u200b19491231\u200b002X", "resident_id"),
    ("110105491231002", "resident_id"),
    ("4111 1111 1111 1111", "bank_card"),
    ("6222-0000-0000-0000-004", "bank_card"),
    ("3782 822463 10005", "bank_card"),
    ("zhang.wei＠qq．com", "email"),
    ("ｚｈａｎｇ＠ｑｑ．ｃｏｍ", "email"),
    ("zhang\u200b@qq.com", "email"),
    ("粤B·D12345", "vehicle_plate"),
    ("粤Ｂ１２３４５", "vehicle_plate"),
    ("京A 12345", "vehicle_plate"),
    ("沪A-AB123", "vehicle_plate"),
    ("粤B12345D", "vehicle_plate"),
    ("京A1234警", "vehicle_plate"),
])
def test_disguises(text, kind):
    assert contains_identifier(text) == kind
    assert contains_identifier(f"备注：{text}。") == kind


# --- look-alikes ----------------------------------------------------------------------------

def hex_ref(rng):
    return "".join(rng.choice("0123456789abcdef") for _ in range(64))


def invalid_resident_id(rng):
    rid = resident_id(rng)
    wrong = rng.choice([c for c in "0123456789X" if c != rid[17]])
    return rid[:17] + wrong


def non_mobile_11(rng):
    head = rng.choice(["0", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"])
    return head + "".join(rng.choice("0123456789") for _ in range(11 - len(head)))


def luhn_invalid_16(rng):
    while True:
        n = rng.choice("123456789") + "".join(rng.choice("0123456789") for _ in range(15))
        if not luhn_ok(n):
            return n


def epoch_ms(rng):
    return str(rng.randint(1_577_836_800_000, 1_893_456_000_000))  # 2020..2030


def division_code(rng):
    return area_code(rng) + f"{rng.randint(0, 999):03d}{rng.randint(0, 999):03d}"


LOOKALIKE_MAKERS = [
    lambda r: f"今日完成订单 {r.randint(0, 5000)} 单，取消 {r.randint(0, 40)} 单",
    lambda r: f"{r.randint(1, 300)} orders, {r.randint(0, 20)} late, {r.randint(0, 9)} cancelled",
    lambda r: f"事发地区划代码 {division_code(r)}，站点 swif-{r.randint(0, 99999):05d}",
    lambda r: f"division {division_code(r)} reported at {epoch_ms(r)}",
    lambda r: f"occurred_at={epoch_ms(r)} reported_at={epoch_ms(r)}",
    lambda r: f"{epoch_ms(r)} {epoch_ms(r)}",
    lambda r: f"{division_code(r)} {epoch_ms(r)}",
    lambda r: random_date(r, 2020, 2030).isoformat() + f"T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00Z",
    lambda r: f"{random_date(r, 2020, 2030).isoformat()} {random_date(r, 2020, 2030).isoformat()} 至 "
              f"{random_date(r, 2020, 2030):%Y.%m.%d}",
    lambda r: f"ref {hex_ref(r)}",
    lambda r: hex_ref(r),
    lambda r: f"event {uuid.UUID(int=r.getrandbits(128), version=4)} was retried",
    lambda r: f"swif-{r.randint(0, 99999):05d}",
    lambda r: f"site carg-{r.randint(0, 99999):05d} and site deli-{r.randint(0, 99999):05d}",
    lambda r: f"号码 {invalid_resident_id(r)} 校验失败",
    lambda r: invalid_resident_id(r),
    lambda r: f"座机号 {non_mobile_11(r)}",
    lambda r: non_mobile_11(r),
    lambda r: f"¥{r.randint(1, 99)},{r.randint(0, 999):03d}.{r.randint(0, 99):02d}",
    lambda r: f"赔付金额 ¥{r.randint(1, 9999):,}.{r.randint(0, 99):02d} 元，时间 {r.randint(0, 23)}:{r.randint(0, 99):02d}",
    lambda r: f"arrived {r.randint(10, 23)}:{r.randint(0, 99):02d}, left {r.randint(10, 23)}:{r.randint(0, 99):02d}",
    lambda r: f"app v{r.randint(1, 20)}.{r.randint(0, 99)}.{r.randint(0, 9999)} build {r.randint(1, 99999)}",
    lambda r: f"{r.randint(1, 20)}.{r.randint(0, 99)}.{r.randint(0, 999)}.{r.randint(0, 9999)}",
    lambda r: luhn_invalid_16(r),
    lambda r: (lambda n: f"{n[:4]} {n[4:8]} {n[8:12]} {n[12:]}")(luhn_invalid_16(r)),
    lambda r: f"卡号 {luhn_invalid_16(r)} 无效",
    lambda r: f"lat {r.uniform(18, 53):.6f}, lon {r.uniform(73, 135):.6f}",
    lambda r: f"{r.uniform(18, 53):.6f} {r.uniform(73, 135):.6f}",
    lambda r: f"客服热线 400-{r.randint(100, 999)}-{r.randint(1000, 9999)}，座机 (0755)8{r.randint(0, 9999999):07d}",
    lambda r: f"提醒@骑手小{r.choice('王李张刘')}，请于{r.randint(1, 12)}月{r.randint(1, 28)}日前处理",
    lambda r: f"新的站点在{r.choice('京津沪渝川粤')}{r.choice('东西南北')}区，{r.randint(2, 40)}人，{r.choice(['云南', '宁夏', '青海', '湘菜'])}",
    lambda r: f"{r.choice(PROVINCE_CHARS)}A区{r.randint(1, 30)}号楼",
    lambda r: f"temperature {r.randint(30, 42)}.{r.randint(0, 9)}C, wind {r.randint(1, 12)} m/s, humidity {r.randint(10, 99)}%",
    lambda r: f"incident inc-{r.randint(1, 10**6)} duplicates inc-{r.randint(1, 10**6)}",
    lambda r: f"batch {r.randint(0, 10**9)} offset {r.randint(0, 10**9)} partition {r.randint(0, 5)}",
    # hex ids as the simulator writes them (inc-<12 hex>), short and long hashes
    lambda r: f"inc-{r.getrandbits(48):012x}",
    lambda r: f"重复上报 inc-{r.getrandbits(48):012x}，commit {r.getrandbits(160):040x}",
    lambda r: "inc-" + "".join(r.choice("0123456789") for _ in range(11)) + r.choice("abcdef"),
    lambda r: f"trace {r.getrandbits(64):016x} span {r.getrandbits(128):032x}",
]


def lookalikes() -> list[str]:
    rng = random.Random(2024)
    return [rng.choice(LOOKALIKE_MAKERS)(rng) for _ in range(4000)] + [
        maker(rng) for maker in LOOKALIKE_MAKERS for _ in range(60)
    ]


LOOKALIKES = lookalikes()


def test_lookalike_corpus_has_no_false_positives():
    flagged = [(t, contains_identifier(t)) for t in LOOKALIKES if contains_identifier(t) is not None]
    assert not flagged, f"{len(flagged)} of {len(LOOKALIKES)} flagged, e.g. {flagged[:5]}"


@pytest.mark.parametrize("field", ["description", "site_id", "incident_id"])
def test_lookalikes_in_records_pass(field):
    flagged = []
    for text in LOOKALIKES[:1500]:
        hit = find_identifier(with_value(INCIDENT, field, text))
        if hit is not None:
            flagged.append((text, hit))
    assert not flagged, flagged[:5]


def test_simulator_events_pass():
    """Every valid event the project's own simulator produces is clean."""
    simulator = pytest.importorskip("gigbridge.simulator.generator")
    from gigbridge.divisions import default_table

    sim = simulator.Simulator(default_table(), seed=11, invalid_share=0.0)
    records = [e.record for e in (sim.next_event(1_780_271_400_000 + i * 50) for i in range(30_000)) if e.record]
    flagged = [(hit, r) for r in records if (hit := find_identifier(r)) is not None]
    assert not flagged, flagged[:3]


def test_clean_events_pass():
    assert find_identifier(INCIDENT) is None
    assert find_identifier(SITE) is None
    assert find_identifier(HEADCOUNT) is None


def test_strict_format_fields_are_skipped_only_when_well_formed():
    # A division code or a pseudonym may look like anything numeric: not scanned when valid.
    assert find_identifier({**INCIDENT, "division_code": "440305000000", "worker_ref": "1" * 64}) is None
    # A raw phone number where a pseudonym belongs is scanned and found.
    assert find_identifier({**INCIDENT, "worker_ref": "13800138000"}) == IdentifierHit("worker_ref", "mobile_phone")
    assert find_identifier({**INCIDENT, "order_ref": "zhang@qq.com"}) == IdentifierHit("order_ref", "email")


def test_first_hit_in_field_order_and_nested_paths():
    record = {**INCIDENT, "site_id": "13800138000", "description": "zhang@qq.com"}
    assert find_identifier(record) == IdentifierHit("site_id", "mobile_phone")
    nested = {"a": [{"b": ["ok", {"c": "粤B12345"}]}]}
    assert find_identifier(nested) == IdentifierHit("a[0].b[1].c", "vehicle_plate")


def test_digits_glued_to_letters():
    assert contains_identifier("tel13800138000") == "mobile_phone"        # t, l: not hex
    assert contains_identifier("ID11010519491231002X") == "resident_id"
    assert contains_identifier("inc-13800138000a") is None                 # a hex id
    assert contains_identifier("13800138000") == "mobile_phone"            # digits alone are not hex ids


def test_the_hit_carries_no_value():
    hit = find_identifier({**INCIDENT, "description": "call 13800138000"})
    assert "13800138000" not in repr(hit)


def test_longest_reading_wins():
    # 19-digit UnionPay card in 4-4-4-4-3: its tail "xxxx xxxx xxx" could read as a phone.
    number = luhn_complete("622202" + "1" + "3" + "9" * 10)
    grouped = " ".join(number[i:i + 4] for i in range(0, 19, 4))
    assert contains_identifier(grouped) == "bank_card"
    # an e-mail whose local part is a phone number is reported as an e-mail
    assert contains_identifier("13800138000@163.com") == "email"


def test_dotted_phones():
    assert contains_identifier("138.0013.8000") == "mobile_phone"
    assert contains_identifier("+86.138.0013.8000") == "mobile_phone"
    assert contains_identifier("1.3.8.0.0.1.3.8.0.0.0") == "mobile_phone"
    # version numbers, coordinates: eleven digits starting 1[3-9], but not shaped like a phone
    assert contains_identifier("16.15.594.3139") is None
    assert contains_identifier("18.543210 113.934567") is None
    assert contains_identifier("v13.800.138.000") is None


def test_normalise():
    assert normalise("plain ascii") == "plain ascii"
    assert normalise("１３８\u200b－００１３\u3000٨٠٠٠") == "138-0013 8000"
    assert normalise("ｚｈａｎｇ＠ｑｑ．ｃｏｍ") == "zhang@qq.com"


# --- properties -----------------------------------------------------------------------------

# Any grouping with these separators; dots only count in the 3-4-4 shape (test_dotted_phones).
SEPARATORS = st.sampled_from(["", " ", "-", "\u200b", "\u3000", "－", " - ", "\u2060 "])


@settings(max_examples=400, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.lists(SEPARATORS, min_size=10, max_size=10),
       st.sampled_from(["", "+86", "86", "0086", "(+86)", "+86 "]))
def test_any_separated_phone_is_found(number, seps, prefix):
    text = prefix + "".join(d + s for d, s in zip(number, seps + [""]))
    assert contains_identifier(f"客户电话：{text}，请联系") == "mobile_phone", text


@settings(max_examples=400, derandomize=True)
@given(st.integers(10**15, 10**16 - 1), st.sampled_from(["plain", "grouped"]))
def test_luhn_invalid_16_digit_numbers_are_never_cards(n, style):
    number = str(n)
    if luhn_ok(number):
        number = number[:-1] + str((int(number[-1]) + 1) % 10)
    text = number if style == "plain" else " ".join(number[i:i + 4] for i in range(0, 16, 4))
    assert contains_identifier(f"order {text}") is None


@settings(max_examples=400, derandomize=True)
@given(st.integers(1_500_000_000_000, 1_999_999_999_999))
def test_epoch_millis_never_flagged(ts):
    assert contains_identifier(f"occurred at {ts}, reported at {ts + 300_000}") is None


@settings(max_examples=300, derandomize=True)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text):
    assert contains_identifier(text) in (None, "resident_id", "mobile_phone", "bank_card", "email", "vehicle_plate")
