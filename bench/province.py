"""A province's year on one machine: 16 city mayor awards, the governor award, Haopin Shandong and the
China Quality Award edition, with the figures the scale issue asks for.

    .venv/bin/python bench/province.py                         # 16 cities × 100, Haopin Shandong 1,000
    .venv/bin/python bench/province.py --cities 3 --per-city 20 --haopin 60 --day-seconds 1   # a quick try

The catalogue is the built-in one plus the other 14 cities' mayor awards, generated as data from the
Jinan and Qingdao templates (each with its own roster and addresses), in a temporary AWARDCYCLE_CATALOGUE.
On its own dev server, mail sink, `--workers` `awardcycle worker` processes and one `awardcycle web`:
1. the cities' 2025 editions (`--per-city` applications each) and Haopin Shandong 2026 run at once;
2. the governor award's 2026 edition takes the cities' recommendations: each recommended applicant applies;
3. the China Quality Award's 2027 edition takes the governor's winners and Haopin Shandong's brands.
The simulator plays the secretariat, experts, on-site teams and coordinators; the departments answer
through the links in their request emails, over HTTP. At the end it prints the figures, runs bare
Temporal (bench/bare.py) on the same counts of workflows, activities, signals, updates and timers for
the ratio, and replays every history of the year in parallel processes, as an auditor would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bare import BareWork, run_bare
from batch import CLERKS, awardcycle_processes, submit, worker_processes
from link_latency import token_in
from measure import HistoryFigures, bench_settings, cpu_seconds, peak_rss_mb
from sqlalchemy import Engine, func
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from awardcycle import samples, service
from awardcycle.api_client import ApiClient
from awardcycle.audit import cycle_histories, replay_all
from awardcycle.embedded import start_dev_server, start_mail_sink
from awardcycle.service import Refused
from awardcycle.simulation import Player, Simulator, TemporalDesk
from awardcycle.temporal_client import connect
from config.settings import Settings, get_settings
from programmes import CATALOGUE, get_programme
from schemas import ids
from schemas.application import ApplicationForm
from schemas.calendar import CalendarSpec
from schemas.cycle import EVENTS_PER_RUN, CycleOverview
from schemas.holiday_file import load_holiday_file
from schemas.programme import Level, Programme
from store.db import make_engine, session, upgrade
from store.tables import OutboxMessage
from worker import WORKFLOWS

GOVERNOR, HAOPIN, CHINA = "shandong-governor-quality-award", "haopin-shandong", "china-quality-award"
TEMPLATES = (("jinan", "济南", "Jinan"), ("qingdao", "青岛", "Qingdao"))
OTHER_CITIES = (  # Shandong's other prefecture-level cities: file slug, Chinese name, English name
    ("zibo", "淄博", "Zibo"),
    ("zaozhuang", "枣庄", "Zaozhuang"),
    ("dongying", "东营", "Dongying"),
    ("yantai", "烟台", "Yantai"),
    ("weifang", "潍坊", "Weifang"),
    ("jining", "济宁", "Jining"),
    ("taian", "泰安", "Taian"),
    ("weihai", "威海", "Weihai"),
    ("rizhao", "日照", "Rizhao"),
    ("linyi", "临沂", "Linyi"),
    ("dezhou", "德州", "Dezhou"),
    ("liaocheng", "聊城", "Liaocheng"),
    ("binzhou", "滨州", "Binzhou"),
    ("heze", "菏泽", "Heze"),
)
# The national edition of 2027 needs holiday data the calendar libraries do not have yet.
HOLIDAY_FILES = [Path(__file__).parent.parent / "tests" / "data" / f"holidays-{year}.toml" for year in (2027, 2028)]
ANSWERING_DEPARTMENTS = 16  # link answers in flight at once


def write_catalogue(directory: Path, cities: int) -> list[str]:
    """The built-in catalogue plus generated city programmes, in `directory`; the ids of the cities' awards."""
    shutil.copytree(CATALOGUE, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    chosen = [f"{slug}-mayor-quality-award" for slug, _, _ in TEMPLATES][:cities]
    for index, city in enumerate(OTHER_CITIES[: max(0, cities - len(TEMPLATES))]):
        template = TEMPLATES[index % len(TEMPLATES)]
        programme = (directory / f"{template[0]}-mayor-quality-award.toml").read_text("utf-8")
        roster = (directory / "rosters" / f"{template[0]}.toml").read_text("utf-8")
        (directory / f"{city[0]}-mayor-quality-award.toml").write_text(_for_city(programme, template, city), "utf-8")
        (directory / "rosters" / f"{city[0]}.toml").write_text(_for_city(roster, template, city), "utf-8")
        chosen.append(f"{city[0]}-mayor-quality-award")
    return chosen


def _for_city(text: str, template: tuple[str, str, str], city: tuple[str, str, str]) -> str:
    for old, new in zip(template, city, strict=True):
        text = text.replace(old, new)
    return text


@dataclass
class Departments:
    """Every cycle's consulted departments, answering "no objection" through the link in their request email."""

    mail_dir: Path
    api: ApiClient  # no token: the link itself says who is answering
    seen: set[str] = field(default_factory=set)
    answers: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    async def run(self) -> None:
        """Until cancelled: each new request email's link answered once."""
        limit = asyncio.Semaphore(ANSWERING_DEPARTMENTS)
        answering: set[asyncio.Task[None]] = set()

        async def one(token: str) -> None:
            async with limit:
                await self._answer(token)

        while True:
            for token in await asyncio.to_thread(self._new_links):
                task = asyncio.create_task(one(token))
                answering.add(task)
                task.add_done_callback(answering.discard)
            await asyncio.sleep(0.5)

    def _new_links(self) -> list[str]:
        tokens = []
        for path in sorted(self.mail_dir.glob("*.eml")):
            if path.name not in self.seen:
                self.seen.add(path.name)
                if token := token_in(path, "/request@"):
                    tokens.append(token)
        return tokens

    async def _answer(self, token: str) -> None:
        try:
            task = await self.api.request("GET", f"/tasks/{token}")
            if task["answered"]:
                return
            opinions = [{"application_id": c["application_id"], "opinion": "no_objection"} for c in task["candidates"]]
            began = time.monotonic()
            try:
                await self.api.post(f"/tasks/{token}", {"answers": opinions})
            finally:
                self.latencies.append(time.monotonic() - began)
        except Refused as refusal:
            self.refusals[f"{refusal.kind.value}: {str(refusal)[:120]}"] += 1
        else:
            self.answers += 1


@dataclass
class Tier:
    """The cycles of one step of the year, run together, and what they ended with."""

    label: str
    cycle_ids: list[str] = field(default_factory=list)
    finals: list[CycleOverview] = field(default_factory=list)
    applications: int = 0
    acts: int = 0
    wall: float = 0.0


Forms = Callable[[str], Awaitable[list[ApplicationForm]]]


@dataclass
class Province:
    client: Client
    engine: Engine
    clerks: asyncio.Semaphore
    events_per_run: int
    started: float = field(default_factory=time.monotonic)

    async def tier(self, tier: Tier, editions: list[tuple[Programme, int, float, Forms]]) -> Tier:
        began = time.monotonic()
        await asyncio.gather(*(self.cycle(tier, *edition) for edition in editions))
        tier.wall = time.monotonic() - began
        return tier

    async def cycle(self, tier: Tier, programme: Programme, year: int, day_seconds: float, forms: Forms) -> None:
        """One edition from its start to its announcement, played by the simulator; `forms` once it is open."""
        cycle_id = f"{ids.cycle_id(programme.id, year)}-{uuid.uuid4().hex[:6]}"
        tier.cycle_ids.append(cycle_id)
        calendar = CalendarSpec(supplied=[load_holiday_file(path) for path in HOLIDAY_FILES]) if year > 2026 else None
        await service.start_cycle(
            self.client,
            programme,
            year,
            day_seconds=day_seconds,
            calendar=calendar,
            cycle_id=cycle_id,
            events_per_run=self.events_per_run,
        )
        applying = await forms(cycle_id)
        await submit(self.client, cycle_id, applying, self.clerks)
        tier.applications += len(applying)
        shown: list[str] = []

        def progress(current: CycleOverview) -> None:
            stage = current.stage.value if current.stage else "between stages"
            if not shown or shown[-1] != stage:
                shown.append(stage)
                elapsed = time.monotonic() - self.started
                print(f"  {elapsed:6.0f} s  {cycle_id}  {current.cycle_time:%Y-%m-%d} {stage}", flush=True)

        async def pause(_: CycleOverview) -> None:
            await asyncio.sleep(max(0.2, day_seconds / 4))

        player = Player(programme=programme, departments=False)  # the departments answer by link, over HTTP
        desk = TemporalDesk(self.client, self.engine)
        simulator = Simulator(desk, cycle_id, player, pause, on_status=progress, on_warning=print)
        tier.finals.append(await simulator.run())
        await self.client.get_workflow_handle(cycle_id).result()
        tier.acts += simulator.acts

    def samples_of(self, programme: Programme, count: int) -> Forms:
        """Sample forms; a city's carry its own name, so two cities never recommend the same name upwards."""
        city = programme.jurisdiction_zh.removeprefix("山东省").removesuffix("市")
        city = city if programme.level is Level.CITY else ""

        async def forms(_: str) -> list[ApplicationForm]:
            every = samples.applications(programme, count, seed=7)
            return [f.model_copy(update={"name": f.name.replace("青岛", city, 1)}) for f in every] if city else every

        return forms

    def recommended_to(self, programme: Programme) -> Forms:
        """Each applicant the tier below recommended to the cycle, applying with its own identity."""

        async def forms(cycle_id: str) -> list[ApplicationForm]:
            status = await service.cycle_status(self.client, cycle_id)
            return [samples.as_applicant(programme, r.applicant, i) for i, r in enumerate(status.recommended, 1)]

        return forms


@contextlib.asynccontextmanager
async def web_process(settings: Settings, logs: Path) -> AsyncIterator[int]:
    """`awardcycle web` on the bench's stack, once /healthz answers; its pid."""
    async with (
        awardcycle_processes(settings, "web", 1, logs) as [pid],
        httpx.AsyncClient(base_url=settings.public_base_url) as web,
    ):
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                if (await web.get("/healthz")).status_code == 200:
                    break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"the web app did not answer /healthz within 30 s; see {logs}")
        yield pid


async def run(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="awardcycle-province-") as home:
        catalogue = Path(home) / "programmes"
        cities = write_catalogue(catalogue, options.cities)
        os.environ["AWARDCYCLE_CATALOGUE"] = str(catalogue)  # this process reads the same catalogue
        get_settings.cache_clear()
        settings = bench_settings(Path(home), catalogue=catalogue)
        async with start_dev_server(settings) as server, start_mail_sink(settings):
            client = await connect(settings)
            engine = make_engine(settings)
            upgrade(engine)
            province = Province(client, engine, asyncio.Semaphore(CLERKS), options.events_per_run)
            logs = Path(tempfile.mkdtemp(prefix="awardcycle-province-logs-"))
            print(f"worker and web logs: {logs}", flush=True)
            async with (
                worker_processes(settings, options.workers, logs) as workers,
                web_process(settings, logs) as web_pid,
                ApiClient(settings.public_base_url, None) as api,
            ):
                departments = Departments(settings.mail_dir, api)
                answering = asyncio.create_task(departments.run())
                tiers = await year(province, options, cities)
                answering.cancel()
                wall = time.monotonic() - province.started
                pids = {"worker": workers, "web": [web_pid], "dev server": [server.pid]}
                cpu = {name: sum(cpu_seconds(p) for p in group) for name, group in pids.items()}
                cpu["bench (simulator, sink, clerks)"] = cpu_seconds("self")
                rss = {name: max(peak_rss_mb(p) for p in group) for name, group in pids.items()}
            histories = [h for tier in tiers for c in tier.cycle_ids for h in await cycle_histories(client, c)]
            with session(engine) as db:
                messages = db.exec(select(func.count()).select_from(OutboxMessage)).one()
        report(options, tiers, histories, wall, cpu, rss, messages, departments)
    outcomes, rate = await replay_all(histories, WORKFLOWS, processes=options.replay_processes)
    failed = sum(1 for o in outcomes if o.error)
    print(f"audit replay: {len(outcomes)} histories in {options.replay_processes} processes, {failed} failed, ", end="")
    print(f"{rate:.1f} histories/s", flush=True)
    await compare(options, histories, wall, cpu)


async def year(province: Province, options: argparse.Namespace, cities: list[str]) -> list[Tier]:
    """The cities and Haopin Shandong at once, then the governor award, then the national award."""
    day, upper = options.day_seconds, options.upper_day_seconds
    haopin = get_programme(HAOPIN)
    city_editions = [(p, 2025, day, province.samples_of(p, options.per_city)) for p in map(get_programme, cities)]
    brands = asyncio.create_task(
        province.tier(Tier("Haopin Shandong"), [(haopin, 2026, day, province.samples_of(haopin, options.haopin))])
    )
    city_tier = await province.tier(Tier(f"{len(cities)} city awards"), city_editions)
    governor = get_programme(GOVERNOR)
    governor_tier = await province.tier(
        Tier("governor award"), [(governor, 2026, upper, province.recommended_to(governor))]
    )
    haopin_tier = await brands
    china = get_programme(CHINA)
    china_tier = await province.tier(
        Tier("China Quality Award"), [(china, 2027, upper, province.recommended_to(china))]
    )
    return [city_tier, haopin_tier, governor_tier, china_tier]


def report(
    options: argparse.Namespace,
    tiers: list[Tier],
    histories: list[WorkflowHistory],
    wall: float,
    cpu: dict[str, float],
    rss: dict[str, float],
    messages: int,
    departments: Departments,
) -> None:
    applications = sum(t.applications for t in tiers)
    print(
        f"\nprovince year: {options.cities} cities × {options.per_city}, Haopin Shandong {options.haopin}; "
        f"{options.day_seconds} s per cycle day (governor and national {options.upper_day_seconds} s), "
        f"{options.workers} worker process(es), events_per_run {options.events_per_run}"
    )
    print(f"wall: {wall:.0f} s for {applications} applications, {applications / wall * 60:.0f} applications per minute")
    every = HistoryFigures()
    for tier in tiers:
        figures = HistoryFigures()
        for history in histories:
            if _of_tier(history.workflow_id, tier):
                figures.add(history, by_type=history.workflow_id in tier.cycle_ids)
                every.add(history, by_type=history.workflow_id in tier.cycle_ids)
        awards = sum(len(f.awards) for f in tier.finals)
        print(f"{tier.label}: {tier.applications} applications, {tier.wall:.0f} s, {tier.acts} simulated acts, "
              f"{awards} awards")  # fmt: skip
        for line in figures.report("  histories", tier.cycle_ids, tier.applications)[:4]:
            print(f"  {line}")
    for line in every.report("the whole year", [c for t in tiers for c in t.cycle_ids], applications)[3:]:
        print(line)
    latencies = sorted(departments.latencies)
    print(
        f"department answers by link over HTTP: {departments.answers} accepted, "
        f"{sum(departments.refusals.values())} refused; POST latency p50 {_ms(latencies, 0.5)}, "
        f"p99 {_ms(latencies, 0.99)}, max {_ms(latencies, 1.0)}"
    )
    for reason, count in departments.refusals.most_common(5):
        print(f"  {count} × {reason}")
    print(f"messages in the outbox: {messages}")
    print("CPU seconds: " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in cpu.items()))
    print(
        "peak RSS: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss.items()) + f", bench {peak_rss_mb():.0f} MB"
    )


def _of_tier(workflow_id: str, tier: Tier) -> bool:
    return any(workflow_id == c or workflow_id.startswith(f"{c}.") for c in tier.cycle_ids)


def _ms(ordered: list[float], share: float) -> str:
    if not ordered:
        return "-"
    return f"{ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000:.0f} ms"


async def compare(
    options: argparse.Namespace, histories: list[WorkflowHistory], wall: float, cpu: dict[str, float]
) -> None:
    """Bare Temporal on the same counts of workflows, activities, signals, updates and timers."""
    counted = Counter(event.event_type for history in histories for event in history.events)
    work = BareWork(
        workflows=len(histories),
        activities=counted[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED],
        local_activities=counted[EventType.EVENT_TYPE_MARKER_RECORDED],
        timers=counted[EventType.EVENT_TYPE_TIMER_STARTED],
        signals=counted[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED],
        updates=counted[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED],
    )
    print(f"bare Temporal on the same work: {work}")
    bare = await run_bare(work, workers=options.workers)
    bare_cpu, ours = sum(bare.cpu_seconds.values()), sum(cpu.values())
    print("  bare CPU seconds: " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in bare.cpu_seconds.items()))
    print(
        f"  bare: wall {bare.wall_seconds:.0f} s, CPU {bare_cpu:.0f} s, {bare.events} events; "
        f"awardcycle: wall {wall:.0f} s, CPU {ours:.0f} s; {ours / bare_cpu:.1f}× the CPU, "
        f"{wall / bare.wall_seconds:.1f}× the wall (which follows the rehearsal clock)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=int, default=16, choices=range(1, len(TEMPLATES) + len(OTHER_CITIES) + 1))
    parser.add_argument("--per-city", type=int, default=100)
    parser.add_argument("--haopin", type=int, default=1000, help="applications to Haopin Shandong")
    parser.add_argument("--day-seconds", type=float, default=12.0, help="cycle day of the cities and Haopin Shandong")
    parser.add_argument(
        "--upper-day-seconds", type=float, default=2.0, help="cycle day of the governor and national awards"
    )
    parser.add_argument("--events-per-run", type=int, default=EVENTS_PER_RUN)
    parser.add_argument("--workers", type=int, default=2, help="`awardcycle worker` processes")
    parser.add_argument("--replay-processes", type=int, default=2)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
