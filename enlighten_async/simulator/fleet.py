"""The synthetic fleet: systems, their devices and their (pure, seeded) energy figures.

Every figure is a function of ``(seed, system, local day)`` and the cut-off time up to which
the system has reported, so any span is answered without stored history. Production is
built from integer Wh per 5-minute interval; every coarser figure (15-minute meter data,
daily totals, lifetime sums, odometers) is derived so that the sums agree exactly.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..core.clock import SystemClock
from . import solar

__all__ = ["Fleet", "SimEnvoy", "SimInverter", "SimMeter", "SimSystem"]

FIVE_MIN = 300
QUARTER = 900
DAY = 86400
YEAR = 365 * DAY

#: Entries of each per-day series cache (a day of one system is ~9 KiB).
DAY_CACHE = 256


@dataclass(frozen=True)
class _Place:
    timezone: str
    country: str
    state: str
    city: str
    postal_code: str
    latitude: float


# Several hemispheres and DST rules on purpose: Sydney and Auckland have reversed seasons,
# Phoenix has no DST, and Berlin/London days are short in December.
_PLACES = (
    _Place("America/Los_Angeles", "US", "CA", "Sebastopol", "95472", 38.4),
    _Place("Europe/Berlin", "DE", "BE", "Berlin", "10115", 52.5),
    _Place("Australia/Sydney", "AU", "NSW", "Sydney", "2000", -33.9),
    _Place("America/New_York", "US", "NY", "Albany", "12207", 42.6),
    _Place("America/Denver", "US", "CO", "Boulder", "80302", 40.0),
    _Place("Pacific/Auckland", "NZ", "AUK", "Auckland", "1010", -36.8),
    _Place("America/Phoenix", "US", "AZ", "Phoenix", "85004", 33.4),
    _Place("Europe/London", "GB", "ENG", "Bristol", "BS1 4DJ", 51.5),
)

_NAMES = ("Green", "Sunny", "Oak", "Maple", "Cedar", "River", "Hill", "Bay", "Meadow", "Stone")
_INSTALLERS = ("Bright Roofs Inc", "SunWorks", "Solar Guild")
_INVERTERS = (
    ("M215", "M215-60-2LL-S22-NA", "800-00107-r01", 215),
    ("IQ7PLUS", "IQ7PLUS-72-2-US", "800-00625-r02", 290),
    ("IQ8M", "IQ8M-72-2-US", "800-01168-r02", 325),
)
_STATUSES_RARE = ("power", "micro", "meter_issue")
_CONNECTIONS = ("ethernet", "cellular", "wifi")


@dataclass(frozen=True)
class SimEnvoy:
    """A gateway on a system. ``reports=False`` means Enlighten never heard from it."""

    envoy_id: int
    serial_number: str
    part_number: str
    model: str
    sku: str
    reports: bool = True

    @property
    def name(self) -> str:
        """The human-friendly name, as Enlighten builds it."""
        return f"Envoy {self.serial_number}"


@dataclass(frozen=True)
class SimInverter:
    """A microinverter."""

    inverter_id: int
    serial_number: str
    model: str
    sku: str
    part_number: str
    envoy_serial_number: str


@dataclass(frozen=True)
class SimMeter:
    """A revenue-grade production meter or a consumption meter.

    ``channel_shares`` splits a production meter's energy over its channels; the meters'
    shares of the system's meter energy are in ``SimSystem.meter_shares``.
    """

    serial_number: str
    envoy_serial_number: str
    manufacturer: str
    model: str
    kind: str
    channel_shares: tuple[float, ...] = (1.0,)


@dataclass(frozen=True)
class SimSystem:
    """One simulated PV system and everything fixed about it."""

    system_id: int
    system_name: str
    public_name: str
    place: _Place
    status: str
    connection_type: str
    reference: str | None
    other_references: tuple[str, ...]
    installer: str
    operational_date: date
    operational_at: int
    size_w: int
    envoys: tuple[SimEnvoy, ...]
    inverters: tuple[SimInverter, ...]
    meters: tuple[SimMeter, ...]
    meter_shares: tuple[float, ...]
    meter_install_date: date | None
    consumption_meter: SimMeter | None
    stopped_at: int | None
    meter_factor: int
    consumption_base_wh: int
    signal_strength: int = 5
    #: How far (seconds) its data lags behind now: its last report and its intervals
    #: end that long before now (0: a minute after each interval, as usual).
    lag_seconds: int = 0
    tz: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tz", ZoneInfo(self.place.timezone))

    @property
    def timezone(self) -> str:
        """The IANA timezone name."""
        return self.place.timezone

    @property
    def has_meter(self) -> bool:
        """Whether the system has revenue-grade production meters."""
        return bool(self.meters)

    @property
    def meter_start_date(self) -> date | None:
        """First day of the merged series taken from the meter (the day after install)."""
        if self.meter_install_date is None:
            return None
        return self.meter_install_date + timedelta(days=1)

    def local_date(self, at: float) -> date:
        """Return the local calendar date at epoch ``at``."""
        return datetime.fromtimestamp(at, self.tz).date()

    def midnight(self, day: date) -> int:
        """Return the epoch of local midnight starting ``day``."""
        return int(datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp())


@dataclass(frozen=True)
class _MicroDay:
    ends: tuple[int, ...]
    wh: tuple[int, ...]
    total: int


@dataclass(frozen=True)
class _QuarterDay:
    ends: tuple[int, ...]
    # One value tuple per (meter, channel), flattened in meter order.
    channels: tuple[tuple[int, ...], ...]


class Fleet:
    """A deterministic fleet of ``n_systems`` systems derived from ``seed``.

    Dates such as the operational dates are relative to the ``anchor`` epoch (default: the
    wall clock when first needed). :class:`Simulator` anchors its fleet to its clock.
    """

    def __init__(
        self,
        n_systems: int,
        seed: int = 0,
        anchor: float | None = None,
        *,
        lagging: Mapping[int, float] | None = None,
        stopped: Mapping[int, float] | None = None,
    ) -> None:
        if n_systems < 1:
            raise ValueError("a fleet needs at least one system")
        # Knobs for the lag tests (issue 22): ``lagging`` maps a system's index to how
        # many seconds its data lags behind now; ``stopped`` a system's index to how long
        # before the anchor it stopped reporting (status ``comm``, as index 2 always is).
        self.lagging = _seconds_by_index(lagging, n_systems, "lagging")
        self.stopped = _seconds_by_index(stopped, n_systems, "stopped")
        self.n_systems = n_systems
        self.seed = seed
        self._anchor: float | None = anchor
        self._systems: list[SimSystem] | None = None
        self._by_id: dict[int, SimSystem] = {}
        self._by_envoy: dict[str, int] = {}
        # Per-instance caches (not decorated methods) so a fleet can be garbage-collected.
        # A day's series is ~9 KiB: the day caches stay small so that a long simulated
        # backfill does not grow the process with the fleet (benchmarks/backfill.py shows
        # no loss of throughput at this size; a request reads one day after another).
        self._micro_day = functools.lru_cache(maxsize=DAY_CACHE)(self._compute_micro_day)
        self._micro_total = functools.lru_cache(maxsize=262144)(self._compute_micro_total)
        self._quarter_day = functools.lru_cache(maxsize=DAY_CACHE)(self._compute_quarter_day)
        self._cons_day = functools.lru_cache(maxsize=DAY_CACHE)(self._compute_cons_day)
        self._cons_total = functools.lru_cache(maxsize=262144)(self._compute_cons_total)

    def __repr__(self) -> str:
        return f"Fleet(n_systems={self.n_systems}, seed={self.seed})"

    # -- construction ------------------------------------------------------------------

    def anchor(self, now: float) -> None:
        """Fix the reference time the fleet's dates are relative to (once; later calls no-op)."""
        if self._anchor is None:
            self._anchor = now

    @property
    def anchored_at(self) -> float:
        """The reference epoch (anchoring to the wall clock if nobody did)."""
        if self._anchor is None:
            self._anchor = SystemClock().now()
        return self._anchor

    @property
    def systems(self) -> list[SimSystem]:
        """All systems, by ascending ``system_id``."""
        if self._systems is None:
            self._systems = [self._make_system(i) for i in range(self.n_systems)]
            self._by_id = {s.system_id: s for s in self._systems}
            self._by_envoy = {e.serial_number: s.system_id for s in self._systems for e in s.envoys}
        return self._systems

    def system(self, system_id: int) -> SimSystem:
        """Return the system with ``system_id``; :class:`KeyError` if there is none."""
        _ = self.systems
        return self._by_id[system_id]

    def find(self, system_id: int) -> SimSystem | None:
        """Return the system with ``system_id`` or ``None``."""
        _ = self.systems
        return self._by_id.get(system_id)

    def system_for_envoy(self, serial_number: str) -> int | None:
        """Return the id of the system an envoy serial number belongs to, or ``None``."""
        _ = self.systems
        return self._by_envoy.get(serial_number)

    def _make_system(self, i: int) -> SimSystem:
        rng = solar.day_rng("system", self.seed, i)
        sid = 67 + 11 * i
        place = _PLACES[i % len(_PLACES)] if i < len(_PLACES) else rng.choice(_PLACES)
        tz = ZoneInfo(place.timezone)
        anchor_day = datetime.fromtimestamp(self.anchored_at, tz).date()
        if i == 1:
            age = 5  # operational only recently
        elif i == 3:
            age = 200  # less than a year: "before production" is reachable inside the year
        else:
            age = rng.randint(30, 1100)
        op_date = anchor_day - timedelta(days=age)
        op_at = int(datetime(op_date.year, op_date.month, op_date.day, tzinfo=tz).timestamp())

        status = "normal"
        stopped_at: int | None = None
        if i == 2:
            status = "comm"
            stopped_at = (int(self.anchored_at) - 3 * DAY - 7 * 3600) // FIVE_MIN * FIVE_MIN
        elif i >= 5 and rng.random() < 0.12:
            status = rng.choice(_STATUSES_RARE)
        if i in self.stopped:  # after the draws: the rest of the fleet stays the same
            status = "comm"
            stopped_at = int(self.anchored_at - self.stopped[i]) // FIVE_MIN * FIVE_MIN

        model, sku, part, unit_w = _INVERTERS[rng.randrange(len(_INVERTERS))]
        n_inv = rng.randint(8, 36)
        n_envoys = 2 if i == 0 or (i > 4 and rng.random() < 0.15) else 1
        envoys = tuple(
            SimEnvoy(
                envoy_id=sid * 10 + k,
                serial_number=f"12{sid:06d}{k:04d}",
                part_number="800-00654-r08" if k == 0 else "910-10000-r01",
                model="Envoy-S-Metered" if k == 0 else "Envoy",
                sku="ENV-S-AM1-120" if k == 0 else "880-00122-r02",
                # Follow the spec's example: an envoy Enlighten never heard from (null).
                reports=not (i == 0 and k == 1),
            )
            for k in range(n_envoys)
        )
        reporting = [e for e in envoys if e.reports]
        inverters = tuple(
            SimInverter(
                inverter_id=sid * 1000 + k,
                serial_number=f"48{sid:06d}{k:04d}",
                model=model,
                sku=sku,
                part_number=part,
                envoy_serial_number=reporting[k % len(reporting)].serial_number,
            )
            for k in range(n_inv)
        )
        has_rgm = i in (0, 2) or (i > 3 and rng.random() < 0.5)
        meters: tuple[SimMeter, ...] = ()
        shares: tuple[float, ...] = ()
        install: date | None = None
        if has_rgm:
            n_m = 2 if i == 0 or rng.random() < 0.2 else 1
            meters = tuple(
                SimMeter(
                    serial_number=f"{envoys[0].serial_number}EIM{m + 1}",
                    envoy_serial_number=envoys[0].serial_number,
                    manufacturer="Enphase",
                    model="EIM",
                    kind="production",
                    channel_shares=(0.5, 0.5) if m == 0 and i == 0 else (1.0,),
                )
                for m in range(n_m)
            )
            shares = (0.6, 0.4) if n_m == 2 else (1.0,)
            install = op_date + timedelta(days=0 if i == 2 else rng.randint(0, min(age - 1, 40)))
        consumption = None
        if i == 0 or (i > 3 and rng.random() < 0.4):
            consumption = SimMeter(
                serial_number=f"{envoys[0].serial_number}EIM9",
                envoy_serial_number=envoys[0].serial_number,
                manufacturer="Enphase",
                model="EIM-CT",
                kind="consumption",
            )
        name = f"{_NAMES[i % len(_NAMES)]} Residence {i + 1}"
        return SimSystem(
            system_id=sid,
            system_name=name,
            public_name=name if rng.random() < 0.7 else "Residential System",
            place=place,
            status=status,
            connection_type=_CONNECTIONS[i % 3] if i < 3 else rng.choice(_CONNECTIONS),
            reference=f"REF-{sid:05d}" if i % 3 == 0 else None,
            other_references=(f"OTHER-{sid}",) if i % 7 == 0 else (),
            installer=_INSTALLERS[i % len(_INSTALLERS)],
            operational_date=op_date,
            operational_at=op_at,
            size_w=n_inv * unit_w,
            envoys=envoys,
            inverters=inverters,
            meters=meters,
            meter_shares=shares,
            meter_install_date=install,
            consumption_meter=consumption,
            stopped_at=stopped_at,
            meter_factor=rng.randint(970, 995),
            consumption_base_wh=rng.randint(8000, 22000),
            signal_strength=rng.randint(1, 5),
            lag_seconds=int(self.lagging.get(i, 0)),
        )

    # -- reporting state -----------------------------------------------------------------

    def cut(self, system_id: int, now: float) -> int:
        """End of the last reported 5-minute interval at ``now``.

        An interval is reported a minute after it ends (a lagging system's
        ``lag_seconds`` later); a stopped (``comm``) system's intervals end when it stopped.
        """
        s = self.system(system_id)
        cut = int(now - 60 - s.lag_seconds) // FIVE_MIN * FIVE_MIN
        if s.stopped_at is not None:
            cut = min(cut, s.stopped_at)
        return cut

    def last_report_at(self, system_id: int, now: float) -> int:
        """When an envoy of the system last reported (shortly after its last interval)."""
        return min(int(now), self.cut(system_id, now) + 60)

    def last_energy_at(self, system_id: int, now: float) -> int:
        """End of the last interval with energy (0 if the system never produced)."""
        s = self.system(system_id)
        cut = self.cut(system_id, now)
        day = s.local_date(cut)
        for _ in range(3):
            if day < s.operational_date:
                break
            md = self._micro_day(system_id, day.toordinal())
            for end, wh in zip(reversed(md.ends), reversed(md.wh), strict=True):
                if end <= cut and wh > 0:
                    return end
            day -= timedelta(days=1)
        return s.operational_at

    # -- per-day building blocks ----------------------------------------------------------

    def _day_bounds(self, s: SimSystem, day: date) -> tuple[int, int]:
        return s.midnight(day), s.midnight(day + timedelta(days=1))

    def _compute_micro_total(self, system_id: int, ordinal: int) -> int:
        s = self.system(system_id)
        day = date.fromordinal(ordinal)
        doy = day.timetuple().tm_yday
        rng = solar.day_rng("micro", self.seed, system_id, ordinal)
        clear = 0.3 + 0.7 * rng.random() ** 0.5
        daylen = solar.day_length_hours(s.place.latitude, doy)
        elev = solar.noon_elevation_factor(s.place.latitude, doy)
        return int(s.size_w * elev * daylen * 0.47 * clear)

    def _compute_micro_day(self, system_id: int, ordinal: int) -> _MicroDay:
        s = self.system(system_id)
        day = date.fromordinal(ordinal)
        start, end = self._day_bounds(s, day)
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=s.tz)
        std = noon.utcoffset() or timedelta(0)
        std -= noon.dst() or timedelta(0)
        std_s = int(std.total_seconds())
        daylen = solar.day_length_hours(s.place.latitude, day.timetuple().tm_yday)
        rng = solar.day_rng("cloud", self.seed, system_id, ordinal)
        cloudiness = rng.random() * 0.6
        knots = [rng.random() for _ in range(26)]
        ends: list[int] = []
        weights: list[float] = []
        for e in range(start + FIVE_MIN, end + 1, FIVE_MIN):
            h = ((e - FIVE_MIN // 2 + std_s) % DAY) / 3600.0
            shape = solar.sun_shape(h, daylen)
            if shape <= 0.0:
                continue  # dark: the microinverters send nothing
            k = int(h)
            frac = h - k
            noise = knots[k] * (1 - frac) + knots[k + 1] * frac
            ends.append(e)
            weights.append(shape * (1.0 - cloudiness * noise))
        total = self._micro_total(system_id, ordinal) if weights else 0
        return _MicroDay(tuple(ends), tuple(solar.allocate(total, weights)), total)

    def _meter_total(self, s: SimSystem, ordinal: int) -> int:
        return self._micro_total(s.system_id, ordinal) * s.meter_factor // 1000

    def _channel_totals(self, s: SimSystem, ordinal: int) -> list[int]:
        per_meter = solar.allocate(self._meter_total(s, ordinal), s.meter_shares)
        out: list[int] = []
        for meter, total in zip(s.meters, per_meter, strict=True):
            out.extend(solar.allocate(total, meter.channel_shares))
        return out

    def _compute_quarter_day(self, system_id: int, ordinal: int) -> _QuarterDay:
        s = self.system(system_id)
        start, end = self._day_bounds(s, date.fromordinal(ordinal))
        md = self._micro_day(system_id, ordinal)
        ends = tuple(range(start + QUARTER, end + 1, QUARTER))
        index = {e: i for i, e in enumerate(ends)}
        weights = [0.0] * len(ends)
        for e, wh in zip(md.ends, md.wh, strict=True):
            # A 5-minute interval belongs to the quarter it ends in.
            weights[index[-(-e // QUARTER) * QUARTER]] += wh
        channels = tuple(
            tuple(solar.allocate(total, weights)) for total in self._channel_totals(s, ordinal)
        )
        return _QuarterDay(ends, channels)

    def _compute_cons_total(self, system_id: int, ordinal: int) -> int:
        s = self.system(system_id)
        day = date.fromordinal(ordinal)
        rng = solar.day_rng("cons-total", self.seed, system_id, ordinal)
        # Hemisphere-aware: more load in local winter.
        winter = math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365.0)
        if s.place.latitude < 0:
            winter = -winter
        return int(s.consumption_base_wh * (1.0 + 0.25 * winter) * (0.85 + 0.3 * rng.random()))

    def _compute_cons_day(
        self, system_id: int, ordinal: int
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        s = self.system(system_id)
        start, end = self._day_bounds(s, date.fromordinal(ordinal))
        ends = tuple(range(start + QUARTER, end + 1, QUARTER))
        rng = solar.day_rng("cons", self.seed, system_id, ordinal)
        values = solar.allocate(
            self._cons_total(system_id, ordinal), solar.load_weights(len(ends), rng)
        )
        return ends, tuple(values)

    # -- spans --------------------------------------------------------------------------

    def _days(self, s: SimSystem, lo: int, hi: int) -> Iterator[date]:
        """Local days whose intervals can end in ``(lo, hi]``."""
        if hi <= lo:
            return
        day = s.local_date(lo)
        last = s.local_date(hi - 1)
        while day <= last:
            yield day
            day += timedelta(days=1)

    def _stop(self, system_id: int, now: float | None) -> float:
        s = self.system(system_id)
        if now is not None:
            return self.cut(system_id, now)
        return float(s.stopped_at) if s.stopped_at is not None else math.inf

    def stats_intervals(
        self, system_id: int, start_at: int, end_at: int, now: float | None = None
    ) -> list[dict[str, int]]:
        """Every reported 5-minute micro interval with ``end_at`` in ``(start_at, end_at]``.

        Dark intervals, intervals before the operational time and after the last report
        (at ``now``; ``None`` = no cut except a stopped system's) are left out. No span
        limits apply: this is the ground truth the API's spans are cut from.
        """
        s = self.system(system_id)
        lo = max(start_at, s.operational_at)
        hi = min(float(end_at), self._stop(system_id, now))
        n_dev = len(s.inverters)
        out: list[dict[str, int]] = []
        for day in self._days(s, lo, int(min(hi, 2**62))):
            md = self._micro_day(system_id, day.toordinal())
            for e, wh in zip(md.ends, md.wh, strict=True):
                if lo < e <= hi:
                    out.append(
                        {"end_at": e, "powr": wh * 12, "enwh": wh, "devices_reporting": n_dev}
                    )
        return out

    def rgm_intervals(
        self, system_id: int, start_at: int, end_at: int, now: float | None = None
    ) -> list[dict[str, int]]:
        """Every 15-minute revenue-grade meter interval (top-level, summed over meters)."""
        return [
            {"end_at": e, "wh_del": sum(vals), "devices_reporting": n}
            for e, vals, n in self._rgm_rows(system_id, start_at, end_at, now)
        ]

    def rgm_meter_intervals(
        self, system_id: int, start_at: int, end_at: int, now: float | None = None
    ) -> list[dict[str, object]]:
        """The same span per meter and channel (the API's ``meter_intervals``)."""
        s = self.system(system_id)
        rows = self._rgm_rows(system_id, start_at, end_at, now)
        out: list[dict[str, object]] = []
        col = 0
        for meter in s.meters:
            intervals = []
            for e, vals, _n in rows:
                for ch in range(len(meter.channel_shares)):
                    wh = vals[col + ch]
                    intervals.append(
                        {"channel": ch + 1, "end_at": e, "wh_del": wh, "curr_w": wh * 4}
                    )
            col += len(meter.channel_shares)
            out.append(
                {
                    "meter_serial_number": meter.serial_number,
                    "envoy_serial_number": meter.envoy_serial_number,
                    "intervals": intervals,
                }
            )
        return out

    def _rgm_rows(
        self, system_id: int, start_at: int, end_at: int, now: float | None
    ) -> list[tuple[int, tuple[int, ...], int]]:
        s = self.system(system_id)
        if s.meter_install_date is None:
            return []
        lo = max(start_at, s.midnight(s.meter_install_date))
        hi = min(float(end_at), self._stop(system_id, now))
        rows = []
        for day in self._days(s, lo, int(min(hi, 2**62))):
            qd = self._quarter_day(system_id, day.toordinal())
            for i, e in enumerate(qd.ends):
                if lo < e <= hi:
                    rows.append((e, tuple(ch[i] for ch in qd.channels), len(s.meters)))
        return rows

    def consumption_intervals(
        self, system_id: int, start_at: int, end_at: int, now: float | None = None
    ) -> list[dict[str, int]]:
        """Every 15-minute consumption interval (empty without a consumption meter)."""
        s = self.system(system_id)
        if s.consumption_meter is None:
            return []
        lo = max(start_at, s.operational_at)
        hi = min(float(end_at), self._stop(system_id, now))
        out = []
        for day in self._days(s, lo, int(min(hi, 2**62))):
            ends, values = self._cons_day(system_id, day.toordinal())
            for e, wh in zip(ends, values, strict=True):
                if lo < e <= hi:
                    out.append({"end_at": e, "enwh": wh, "devices_reporting": 1})
        return out

    # -- daily figures ------------------------------------------------------------------

    def _is_full(self, s: SimSystem, day: date, stop: float) -> bool:
        return s.midnight(day + timedelta(days=1)) <= stop

    def _daily(
        self,
        s: SimSystem,
        first: date | None,
        day: date,
        now: float | None,
        total: Callable[[int], int],
        intervals: Callable[[int, int, int, float | None], list[dict[str, int]]],
        field: str,
    ) -> int:
        """Wh on local ``day``: 0 before ``first`` (the first day of the series; ``None``:
        the system has none), ``total`` (of the day's ordinal) for a day reported in full,
        else the sum of ``field`` over the day's ``intervals`` reported so far."""
        if first is None or day < first:
            return 0
        if self._is_full(s, day, self._stop(s.system_id, now)):
            return total(day.toordinal())
        start, end = self._day_bounds(s, day)
        return sum(i[field] for i in intervals(s.system_id, start, end, now))

    def daily_production(self, system_id: int, day: date, now: float | None = None) -> int:
        """Micro-measured Wh on local ``day``: the sum of that day's ``stats`` intervals."""
        s = self.system(system_id)
        total = functools.partial(self._micro_total, system_id)
        return self._daily(s, s.operational_date, day, now, total, self.stats_intervals, "enwh")

    def daily_meter_production(self, system_id: int, day: date, now: float | None = None) -> int:
        """Meter-measured Wh on local ``day``: the sum of that day's ``rgm_stats`` intervals."""
        s = self.system(system_id)
        total = functools.partial(self._meter_total, s)
        return self._daily(s, s.meter_install_date, day, now, total, self.rgm_intervals, "wh_del")

    def daily_merged(self, system_id: int, day: date, now: float | None = None) -> int:
        """The ``energy_lifetime`` figure: the meter from ``meter_start_date``, else micros."""
        s = self.system(system_id)
        msd = s.meter_start_date
        if msd is not None and day >= msd:
            return self.daily_meter_production(system_id, day, now)
        return self.daily_production(system_id, day, now)

    def daily_consumption(self, system_id: int, day: date, now: float | None = None) -> int:
        """Consumed Wh on local ``day``: the sum of that day's ``consumption_stats``."""
        s = self.system(system_id)
        first = s.operational_date if s.consumption_meter is not None else None
        total = functools.partial(self._cons_total, system_id)
        return self._daily(s, first, day, now, total, self.consumption_intervals, "enwh")

    def lifetime_merged(self, system_id: int, before: date, now: float | None = None) -> int:
        """Sum of the merged daily series from the operational date up to ``before`` (excl.)."""
        s = self.system(system_id)
        day = s.operational_date
        total = 0
        while day < before:
            total += self.daily_merged(system_id, day, now)
            day += timedelta(days=1)
        return total

    def meter_odometer(self, system_id: int, meter_index: int, at: int, now: float | None) -> int:
        """Lifetime Wh of one production meter over intervals ending at or before ``at``."""
        s = self.system(system_id)
        if s.meter_install_date is None:
            return 0
        first = sum(len(m.channel_shares) for m in s.meters[:meter_index])
        cols = range(first, first + len(s.meters[meter_index].channel_shares))
        stop = min(float(at), self._stop(system_id, now))
        day = s.meter_install_date
        last = s.local_date(at)
        total = 0
        while day <= last:
            if self._is_full(s, day, stop):
                chans = self._channel_totals(s, day.toordinal())
                total += sum(chans[c] for c in cols)
            else:
                qd = self._quarter_day(system_id, day.toordinal())
                for i, e in enumerate(qd.ends):
                    if e <= stop:
                        total += sum(qd.channels[c][i] for c in cols)
            day += timedelta(days=1)
        return total


def _seconds_by_index(
    given: Mapping[int, float] | None, n_systems: int, name: str
) -> dict[int, float]:
    """``given`` checked: system indexes of the fleet to non-negative finite seconds."""
    out: dict[int, float] = {}
    for index, seconds in (given or {}).items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n_systems:
            raise ValueError(f"{name}: {index!r} is no system index of a fleet of {n_systems}")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"{name}: seconds must be a number, got {type(seconds).__name__}")
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"{name}: seconds must be finite and not negative, got {seconds!r}")
        out[index] = float(seconds)
    return out
