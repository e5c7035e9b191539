"""The coded-serving frontend, on local instances and on Ray Serve (a local Ray on
loopback): the same tests for both backends.

The deployed model is linear (F(x) = W x + b), so a SumCode parity model is known exactly
(W x + k b) and every decoded answer can be checked against the truth and against
``pk.decode`` of the outputs that had arrived.
"""

from __future__ import annotations

import asyncio
import gc
import time
import urllib.request

import pytest
import torch
from torch import nn

import parity_kernels as pk

pytest.importorskip("prometheus_client", reason="the 'serving' extra is not installed")

from parity_kernels.serving import (  # noqa: E402
    CodedFrontend, FaultPlan, HedgedFrontend, LocalInstance, NO_FAULTS, ServiceTime, Timeouts, UncodedFrontend,
)

D_IN, D_OUT = 6, 4
DEPLOYED, PARITY_K2, PARITY_K4 = 4, 2, 1


def _linear(scale_bias: float) -> nn.Module:
    torch.manual_seed(0)
    layer = nn.Linear(D_IN, D_OUT)
    with torch.no_grad():
        layer.bias.mul_(scale_bias)
    return layer.eval()


MODEL = _linear(1.0)
PARITY = {2: _linear(2.0), 4: _linear(4.0)}  # F_p(x_1 + ... + x_k) = sum F(x_i) exactly


def truth(x):
    with torch.no_grad():
        return MODEL(x)


class LocalBackend:
    service = ServiceTime(0.004, 0.0005, 0.0)
    timeouts = Timeouts(retry_floor_s=0.1, probe_interval_s=0.05, default_latency_s=0.02)

    def make(self, deployed: int, parity_k: int = 0, parity: int = 0):
        dep = [LocalInstance(MODEL, f"d{i}", service=self.service) for i in range(deployed)]
        par = [LocalInstance(PARITY[parity_k], f"p{i}", service=self.service) for i in range(parity)]
        return dep, par


class RayBackend:
    service = ServiceTime(0.01, 0.001, 0.0)
    timeouts = Timeouts(retry_floor_s=0.25, probe_interval_s=0.1, default_latency_s=0.05)

    def __init__(self):
        from parity_kernels.serving import ray_serve

        ray_serve.start_local_ray(num_cpus=2)
        names = [f"d{i}" for i in range(DEPLOYED)] + [f"p2-{i}" for i in range(PARITY_K2)] + ["p4-0"]
        models = [MODEL] * DEPLOYED + [PARITY[2]] * PARITY_K2 + [PARITY[4]] * PARITY_K4
        self.instances = dict(zip(names, ray_serve.deploy(models, names, service=self.service)))

    def make(self, deployed: int, parity_k: int = 0, parity: int = 0):
        dep = [self.instances[f"d{i}"] for i in range(deployed)]
        par = [self.instances[f"p{parity_k}-{i}"] for i in range(parity)]
        return dep, par


@pytest.fixture(scope="module")
def ray_backend():
    pytest.importorskip("ray.serve")
    backend = RayBackend()
    yield backend
    from parity_kernels.serving import ray_serve

    ray_serve.stop_ray()


@pytest.fixture(params=["local", "ray"])
def backend(request):
    if request.param == "local":
        return LocalBackend()
    return request.getfixturevalue("ray_backend")


def run(coro):
    """Run ``coro`` on a fresh loop; fail on any exception a task raised unseen (a
    frontend callback that crashed would otherwise only be logged)."""
    errors = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
        return await asyncio.wait_for(coro, timeout=90)

    result = asyncio.run(main())
    gc.collect()  # tasks that died with an exception report it when collected
    assert not errors, errors
    return result


async def _prepare(frontend, instances, plans):
    """Warm every instance up (fault-free), then inject ``plans`` (by position) from now."""
    for inst in instances:
        await inst.set_faults(NO_FAULTS, time.time())
    await frontend.warm_up(torch.zeros(D_IN))
    epoch = time.time()
    for inst, plan in zip(instances, plans):
        await inst.set_faults(plan, epoch)


async def _finish(frontend, instances, backend):
    await frontend.close()
    for inst in instances:
        await inst.set_faults(NO_FAULTS, time.time())
        if isinstance(backend, LocalBackend):
            await inst.close()


DOWN = FaultPlan(outages=((0.0, 3600.0),))
SLOW = FaultPlan(load_windows=((0.0, 3600.0),), load_factor=40.0)


async def _stream(frontend, xs, gap_s=0.004):
    """Queries ``gap_s`` apart; the answers in order."""
    tasks = []
    for x in xs:
        tasks.append(asyncio.get_running_loop().create_task(frontend.infer(x)))
        await asyncio.sleep(gap_s)
    return await asyncio.gather(*tasks)


def _check_all_true(xs, answers, rtol=1e-4):
    for x, answer in zip(xs, answers):
        torch.testing.assert_close(answer.output, truth(x), rtol=rtol, atol=1e-4)


def _serve_stream(backend, frontend, deployed, parity_k=0, parity=0, plans=(), queries=40):
    """Stream ``queries`` random queries through ``frontend(deployed, parity)`` with
    ``plans`` injected (by position) after a warm-up: (xs, answers, counts, frontend, deployed)."""

    async def main():
        dep, par = backend.make(deployed, parity_k, parity)
        fe = frontend(dep, par)
        await _prepare(fe, dep + par, plans)
        xs = [torch.randn(D_IN) for _ in range(queries)]
        answers = await _stream(fe, xs)
        await _finish(fe, dep + par, backend)
        return xs, answers, dict(fe.metrics.counts), fe, dep

    return run(main())


def test_every_query_answered_exactly_once_under_a_failure(backend):
    xs, answers, counts, _, _ = _serve_stream(
        backend, lambda dep, par: CodedFrontend(dep, [par], pk.SumCode(2), group_wait_s=0.02, timeouts=backend.timeouts),
        DEPLOYED, 2, PARITY_K2, [NO_FAULTS, DOWN])
    _check_all_true(xs, answers)
    assert counts["queries"] == counts["answers"] == 40
    assert counts.get("decodes_answered_first", 0) > 0  # queries on the down instance were decoded
    assert all(a.reconstructed == (a.via == "decode") for a in answers)


def test_a_failed_instance_loses_no_query(backend):
    xs, answers, counts, fe, dep = _serve_stream(
        backend, lambda dep, par: UncodedFrontend(dep, timeouts=backend.timeouts), 3, plans=[DOWN], queries=30)
    _check_all_true(xs, answers)
    assert counts["answers"] == 30 and counts["retries"] > 0 and dep[0] in fe.suspects
    assert not any(a.reconstructed for a in answers)


def test_partial_group_is_answered_after_its_wait_and_decodes_with_padding(backend):
    async def main():
        dep, par = backend.make(DEPLOYED, 4, PARITY_K4)
        fe = CodedFrontend(dep, [par], pk.SumCode(4), group_wait_s=0.05, timeouts=backend.timeouts)
        await _prepare(fe, dep + par, [DOWN])  # the first query goes to d0 (all idle): it is lost
        xs = [torch.randn(D_IN) for _ in range(3)]  # 3 < k: the group closes after 50 ms
        answers = await asyncio.gather(*[fe.infer(x) for x in xs])
        counts = dict(fe.metrics.counts)
        await _finish(fe, dep + par, backend)
        return xs, answers, counts

    xs, answers, counts = run(main())
    _check_all_true(xs, answers)
    assert counts["partial_groups"] == 1 and counts["coded_queries"] == 1
    decoded = [a for a in answers if a.reconstructed]
    assert len(decoded) == 1 and decoded[0].available == (False, True, True, True, True)  # slot 3 is padding


def test_reconstructed_answers_equal_the_decode_of_what_arrived(backend):
    code = pk.SumCode(2)

    async def main():
        dep, par = backend.make(2, 2, 1)
        fe = CodedFrontend(dep, [par], code, group_wait_s=0.5, timeouts=backend.timeouts)
        await _prepare(fe, dep + par, [SLOW])
        pairs = []
        for _ in range(6):  # one coding group at a time: slots in arrival order
            xs = [torch.randn(D_IN), torch.randn(D_IN)]
            pairs.append((xs, await asyncio.gather(*[fe.infer(x) for x in xs])))
        counts = dict(fe.metrics.counts)
        await _finish(fe, dep + par, backend)
        return pairs, counts

    pairs, counts = run(main())
    decoded = 0
    for xs, answers in pairs:
        outputs = torch.stack([truth(x) for x in xs]).unsqueeze(0)
        with torch.no_grad():
            coded = PARITY[2](xs[0] + xs[1]).view(1, 1, D_OUT)
        for slot, answer in enumerate(answers):
            if not answer.reconstructed:
                torch.testing.assert_close(answer.output, truth(xs[slot]))
                continue
            decoded += 1
            available = torch.tensor([answer.available])
            assert not bool(available[0, slot])
            arrived = outputs.masked_fill(~available[:, :2, None], float("nan"))  # never read
            want, ok = pk.decode(arrived, coded, available, code)
            assert bool(ok[0])
            torch.testing.assert_close(answer.output, want[0, slot], rtol=1e-5, atol=1e-5)
    assert decoded >= 3  # the slow instance held one query of most groups
    assert counts["cancelled"] > 0  # the slow instance's requests, once decoded


def test_hedged_requests_answer_once(backend):
    xs, answers, counts, _, _ = _serve_stream(
        backend, lambda dep, par: HedgedFrontend(dep, hedge_percentile=90.0, timeouts=backend.timeouts), 3,
        plans=[SLOW], queries=30)
    _check_all_true(xs, answers)
    assert counts["answers"] == 30 and counts["hedges"] > 0
    assert any(a.via == "hedge" for a in answers)  # the duplicates beat the slow instance
    assert not any(a.reconstructed for a in answers)


def test_extra_load_cap_limits_coded_queries(backend):
    xs, answers, counts, _, _ = _serve_stream(
        backend, lambda dep, par: CodedFrontend(dep, [par], pk.SumCode(2), group_wait_s=0.02, max_extra_load=0.25,
                                                timeouts=backend.timeouts),
        DEPLOYED, 2, PARITY_K2)
    _check_all_true(xs, answers)
    assert 0 < counts["coded_queries"] <= 0.25 * 40 and counts["coded_skipped"] > 0


def test_instance_recovers_after_an_outage(backend):
    async def main():
        dep, _ = backend.make(2)
        fe = UncodedFrontend(dep, timeouts=backend.timeouts)
        await _prepare(fe, dep, [FaultPlan(outages=((0.0, 0.6),))])
        xs = [torch.randn(D_IN) for _ in range(30)]
        first = await _stream(fe, xs[:15], gap_s=0.03)  # during the outage
        was_suspect = dep[0] in fe.suspects
        served_before = await dep[0].served()
        await asyncio.sleep(max(0.0, 0.8 - 15 * 0.03))
        second = await _stream(fe, xs[15:], gap_s=0.03)
        result = was_suspect, dep[0] in fe.suspects, served_before, await dep[0].served()
        await _finish(fe, dep, backend)
        return xs, first + second, result

    xs, answers, (was_suspect, still_suspect, served_before, served_after) = run(main())
    _check_all_true(xs, answers)
    assert was_suspect and not still_suspect
    assert served_after > served_before  # back in service: it answered queries again


def test_berrut_coded_queries_go_to_deployed_instances(backend):
    code = pk.BerrutCode(2, 3)

    async def main():
        dep, _ = backend.make(DEPLOYED)
        fe = CodedFrontend(dep, None, code, group_wait_s=0.5, timeouts=backend.timeouts)
        await _prepare(fe, dep, [DOWN])
        pairs = []
        for _ in range(4):
            xs = [torch.randn(D_IN), torch.randn(D_IN)]
            pairs.append((xs, await asyncio.gather(*[fe.infer(x) for x in xs])))
        await _finish(fe, dep, backend)
        return pairs

    decoded = 0
    for xs, answers in run(main()):
        coded_inputs = pk.encode(torch.stack(xs).unsqueeze(0), code)[0]
        coded = torch.stack([truth(c) for c in coded_inputs]).unsqueeze(0)
        for slot, answer in enumerate(answers):
            if answer.reconstructed:
                decoded += 1
                available = torch.tensor([answer.available])
                want, ok = pk.decode(None, coded.masked_fill(~available[..., None], float("nan")), available, code)
                torch.testing.assert_close(answer.output, want[0, slot], rtol=1e-4, atol=1e-4)
            else:
                torch.testing.assert_close(answer.output, truth(xs[slot]))
    assert decoded >= 1


def test_ray_runs_on_loopback_only(ray_backend):
    import ray

    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}


# ------------------------------------------------------------- no backend needed


def test_metrics_are_exposed_in_prometheus_format():
    async def main():
        dep, par = LocalBackend().make(2, 2, 1)
        fe = CodedFrontend(dep, [par], pk.SumCode(2), group_wait_s=0.01)
        await asyncio.gather(*[fe.infer(torch.randn(D_IN)) for _ in range(4)])
        text = fe.metrics.exposition()
        server = fe.metrics.serve(0)  # what a Prometheus scraper reads, on loopback
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        scraped = await asyncio.get_running_loop().run_in_executor(
            None, lambda: urllib.request.urlopen(url, timeout=10).read().decode())
        server.shutdown()
        await _finish(fe, dep + par, LocalBackend())
        return text, scraped

    text, scraped = run(main())
    for line in ("parity_kernels_frontend_queries_total 4.0", "parity_kernels_frontend_groups_formed_total 2.0"):
        assert line in scraped and line in text
    for name in ("groups_formed_total 2.0", "queries_total 4.0", "coded_queries_total 2.0", "decodes_fired_total",
                 "decodes_answered_first_total", "partial_groups_total", "latency_seconds_bucket"):
        assert f"parity_kernels_frontend_{name}" in text, name


def test_bad_arguments_are_refused():
    dep, par = LocalBackend().make(2, 2, 1)
    with pytest.raises(ValueError, match="parity: expected 1 non-empty pools"):
        CodedFrontend(dep, None, pk.SumCode(2))
    with pytest.raises(ValueError, match="parity: expected 2 non-empty pools"):
        CodedFrontend(dep, [par], pk.LinearCode.cauchy(2, 2))
    with pytest.raises(ValueError, match="ConcatCode"):
        CodedFrontend(dep, [par], pk.ConcatCode(2))
    with pytest.raises(ValueError, match="pass None"):
        CodedFrontend(dep, [par], pk.BerrutCode(2, 3))
    with pytest.raises(ValueError, match="policy"):
        CodedFrontend(dep, [par], pk.SumCode(2), policy="eventually")
    with pytest.raises(ValueError, match="deployed"):
        UncodedFrontend([])
    with pytest.raises(ValueError, match="hedge_percentile"):
        HedgedFrontend(dep, hedge_percentile=0)
    with pytest.raises(ValueError, match="probability"):
        FaultPlan(slow_probability=1.5)
    with pytest.raises(ValueError, match="end before start"):
        FaultPlan(outages=((2.0, 1.0),))


def test_local_instance_serves_again_on_a_new_event_loop():
    inst = LocalInstance(MODEL, "again", service=ServiceTime(0.001, 0.0, 0.0))

    async def one():
        return await inst.submit(torch.ones(D_IN))

    first, second = asyncio.run(one()), asyncio.run(one())  # two loops, one instance
    torch.testing.assert_close(first, truth(torch.ones(D_IN)))
    torch.testing.assert_close(second, first)
    asyncio.run(inst.close())


def test_local_instance_batches_queued_queries():
    async def main():
        inst = LocalInstance(MODEL, "batcher", service=ServiceTime(0.01, 0.0, 0.0), max_batch=4)
        outs = await asyncio.gather(*[inst.submit(torch.full((D_IN,), float(i))) for i in range(8)])
        batches = inst.batches
        await inst.close()
        return outs, batches

    outs, batches = run(main())
    assert batches == 2  # 8 queued queries, 4 to a batch
    for i, out in enumerate(outs):
        torch.testing.assert_close(out, truth(torch.full((D_IN,), float(i))))


def test_latency_tracker_percentiles():
    from parity_kernels.serving import LatencyTracker

    tracker = LatencyTracker(window=100, default_s=0.5, min_samples=10)
    assert tracker.percentile(99) == 0.5  # too few samples: the default
    for v in range(1, 201):  # the window keeps 101..200
        tracker.record(v / 1000)
    assert len(tracker) == 100
    assert tracker.percentile(50) == 0.150 and tracker.percentile(99) == 0.199 and tracker.percentile(100) == 0.2


def test_fault_plans_replay_and_differ_by_instance():
    import random

    from parity_kernels.serving import FaultScenario

    scenario = FaultScenario(slow_probability=0.5, loaded=(0,), load_windows=((1.0, 2.0),), load_factor=3.0,
                             failed=(1,), outages=((3.0, 4.0),))
    a, b = scenario.plan(0), scenario.plan(0)
    draws = lambda plan: [plan.batch_delay(random.Random(plan.seed), t, 0.01) for t in (0.5, 1.5)]  # noqa: E731
    assert draws(a) == draws(b) and a.seed != scenario.plan(1).seed != scenario.plan(0, "parity").seed
    assert a.load_windows and not scenario.plan(1).load_windows and not scenario.plan(0, "parity").load_windows
    assert scenario.plan(1).down_until(3.5) == 4.0 and scenario.plan(1).down_until(4.0) is None
    quiet = FaultPlan(load_windows=((1.0, 2.0),), load_factor=3.0)
    assert quiet.batch_delay(random.Random(0), 1.5, 0.01) == pytest.approx(0.03)
    assert quiet.batch_delay(random.Random(0), 2.5, 0.01) == pytest.approx(0.01)


def test_close_fails_unanswered_queries_instead_of_hanging():
    async def main():
        dep, _ = LocalBackend().make(1)
        fe = UncodedFrontend(dep, timeouts=LocalBackend.timeouts)
        await dep[0].set_faults(DOWN, time.time())
        waiting = asyncio.get_running_loop().create_task(fe.infer(torch.randn(D_IN)))
        await asyncio.sleep(0.05)
        await fe.close()
        with pytest.raises(RuntimeError, match="closed before this query was answered"):
            await waiting
        with pytest.raises(RuntimeError, match="closed"):
            await fe.infer(torch.randn(D_IN))
        await dep[0].close()

    run(main())
