"""Where each control-plane component runs and where a run takes it
(plugins/plugin_utils/control_plane_state.py, filter stackhop.upgrade.control_plane_state).

The decision replaced roles/control_plane/templates/state.j2. Before it was deleted, a
harness (tests/control_plane/state_equivalence.py, in git history: commit "control_plane_state:
the state decision of state.j2 as a Python function ...") rendered state.j2 with Ansible's
templar on 5500 generated inputs and compared: identical, refusals included.
FROM_STATE_J2 holds what state.j2 answered for the scenarios below, whole.
"""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.filter.control_plane_state import control_plane_state
from ansible_collections.stackhop.upgrade.plugins.plugin_utils import control_plane_state as cps

OLD, NEW = "ctl-old", "ctl-new"
R2_OLD, R2_NEW = "r2-ctl-old", "r2-ctl-new"
KS_VIP, GL_VIP, NOVA_VIP, NEUTRON_VIP = "10.20.0.101", "10.20.0.102", "10.20.0.103", "10.20.0.104"
ADDRESSES = {"keystone": KS_VIP, "glance": GL_VIP, "nova": NOVA_VIP, "neutron": NEUTRON_VIP}
PRIMARY = {"keystone": ["keystone"], "glance": ["glance-api"], "placement": ["placement-api"],
           "nova": ["nova-api"], "neutron": ["neutron-api", "neutron-server"], "cinder": ["cinder-api"]}
SUPPORTED = ["keystone", "glance", "placement", "nova", "neutron", "cinder"]
COMPONENTS = ["keystone", "glance", "nova", "neutron"]


def node(addresses=(), own="10.20.0.1", **units):
    """A controller's control_plane_node: the addresses it holds, unit -> release."""
    return {"addresses": [own] + list(addresses),
            "units": {name.replace("_", "-"): rel for name, rel in units.items()}, "hostname": "x"}


def everything(release, *vips):
    return node(vips, keystone=release, glance_api=release, nova_api=release, neutron_server=release)


def state(hostvars, target="2025.1", strategy="blue_green", method="vip", components=None,
          old=(OLD,), new=(NEW,), addresses=None):
    return control_plane_state(
        hostvars, COMPONENTS if components is None else components, SUPPORTED, list(old), list(new),
        ADDRESSES if addresses is None else addresses, PRIMARY, target, strategy=strategy,
        endpoint_method=method)


ALL_VIPS = (KS_VIP, GL_VIP, NOVA_VIP, NEUTRON_VIP)
SCENARIOS = {
    # a fresh region: everything on the old controller
    "fresh_blue_green": dict(hostvars={OLD: {"control_plane_node": everything("2024.1", *ALL_VIPS)},
                                       NEW: {"control_plane_node": node()}}),
    # half moved: keystone and glance switched to the new controller, nova deployed there but
    # not switched yet (a re-run after a failed smoke test), neutron untouched
    "half_moved": dict(hostvars={
        OLD: {"control_plane_node": node([NOVA_VIP, NEUTRON_VIP], keystone="2024.1", glance_api="2024.1",
                                         nova_api="2024.1", neutron_server="2024.1")},
        NEW: {"control_plane_node": node([KS_VIP, GL_VIP], own="10.20.0.2", keystone="2025.1",
                                         glance_api="2025.1", nova_api="2025.1")}}),
    # done: a second run converges on the new controller
    "done_blue_green": dict(hostvars={OLD: {"control_plane_node": everything("2024.1")},
                                      NEW: {"control_plane_node": everything("2025.1", *ALL_VIPS)}}),
    # rolled back (stackhop.upgrade.rollback): the old controller serves 2024.1 and holds the
    # addresses again; the new one's units still name 2025.1, stopped
    "rolled_back": dict(hostvars={OLD: {"control_plane_node": everything("2024.1", *ALL_VIPS)},
                                  NEW: {"control_plane_node": everything("2025.1")}}),
    "fresh_in_place": dict(hostvars={OLD: {"control_plane_node": everything("2024.1", *ALL_VIPS)}},
                           strategy="in_place", new=()),
    "done_in_place": dict(hostvars={OLD: {"control_plane_node": everything("2025.1", *ALL_VIPS)}},
                          strategy="in_place", new=()),
    # two regions: region 2 already runs 2025.1 and its controllers hold the same addresses;
    # region 1 (the selected one) is fresh
    "two_regions": dict(hostvars={OLD: {"control_plane_node": everything("2024.1", *ALL_VIPS)},
                                  NEW: {"control_plane_node": node()},
                                  R2_OLD: {"control_plane_node": everything("2024.1")},
                                  R2_NEW: {"control_plane_node": everything("2025.1", *ALL_VIPS)}}),
    # the new controller is unreachable (no control_plane_node)
    "new_unreachable": dict(hostvars={OLD: {"control_plane_node": everything("2024.1", *ALL_VIPS)},
                                      NEW: {}}),
    # the old controller is unreachable after the switch: done all the same
    "old_unreachable_done": dict(hostvars={OLD: {}, NEW: {"control_plane_node": everything("2025.1", *ALL_VIPS)}}),
    # dns endpoint: nobody holds an address; the switch runs every time
    "dns_moved": dict(hostvars={OLD: {"control_plane_node": everything("2024.1")},
                                NEW: {"control_plane_node": everything("2025.1")}}, method="dns"),
}

# What state.j2 answered for SCENARIOS (rendered once with Ansible's templar).
FROM_STATE_J2 = {
    "dns_moved": {
        "keystone": {"address": "10.20.0.101", "holders": [], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                     "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "glance": {"address": "10.20.0.102", "holders": [], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                   "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "nova": {"address": "10.20.0.103", "holders": [], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                 "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "neutron": {"address": "10.20.0.104", "holders": [], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                    "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
    },
    "done_blue_green": {
        "keystone": {"address": "10.20.0.101", "holders": ["ctl-new"], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                     "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": False},
        "glance": {"address": "10.20.0.102", "holders": ["ctl-new"], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                   "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": False},
        "nova": {"address": "10.20.0.103", "holders": ["ctl-new"], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                 "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": False},
        "neutron": {"address": "10.20.0.104", "holders": ["ctl-new"], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                    "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": False},
    },
    "done_in_place": {
        "keystone": {"address": "10.20.0.101", "holders": ["ctl-old"], "releases": {"ctl-old": "2025.1"},
                     "serving": "ctl-old", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-old", "peer": "", "switch": False},
        "glance": {"address": "10.20.0.102", "holders": ["ctl-old"], "releases": {"ctl-old": "2025.1"},
                   "serving": "ctl-old", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-old", "peer": "", "switch": False},
        "nova": {"address": "10.20.0.103", "holders": ["ctl-old"], "releases": {"ctl-old": "2025.1"},
                 "serving": "ctl-old", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-old", "peer": "", "switch": False},
        "neutron": {"address": "10.20.0.104", "holders": ["ctl-old"], "releases": {"ctl-old": "2025.1"},
                    "serving": "ctl-old", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-old", "peer": "", "switch": False},
    },
    "fresh_blue_green": {
        "keystone": {"address": "10.20.0.101", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": ""},
                     "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "glance": {"address": "10.20.0.102", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": ""},
                   "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "nova": {"address": "10.20.0.103", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": ""},
                 "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "neutron": {"address": "10.20.0.104", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": ""},
                    "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
    },
    "fresh_in_place": {
        "keystone": {"address": "10.20.0.101", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1"},
                     "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-old", "peer": "", "switch": False},
        "glance": {"address": "10.20.0.102", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1"},
                   "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-old", "peer": "", "switch": False},
        "nova": {"address": "10.20.0.103", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1"},
                 "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-old", "peer": "", "switch": False},
        "neutron": {"address": "10.20.0.104", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1"},
                    "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-old", "peer": "", "switch": False},
    },
    "half_moved": {
        "keystone": {"address": "10.20.0.101", "holders": ["ctl-new"], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                     "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": False},
        "glance": {"address": "10.20.0.102", "holders": ["ctl-new"], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                   "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": False},
        "nova": {"address": "10.20.0.103", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                 "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "neutron": {"address": "10.20.0.104", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": ""},
                    "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
    },
    "new_unreachable": {
        "keystone": {"address": "10.20.0.101", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": ""},
                     "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "glance": {"address": "10.20.0.102", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": ""},
                   "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "nova": {"address": "10.20.0.103", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": ""},
                 "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "neutron": {"address": "10.20.0.104", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": ""},
                    "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
    },
    "old_unreachable_done": {
        "keystone": {"address": "10.20.0.101", "holders": ["ctl-new"], "releases": {"ctl-old": "", "ctl-new": "2025.1"},
                     "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": False},
        "glance": {"address": "10.20.0.102", "holders": ["ctl-new"], "releases": {"ctl-old": "", "ctl-new": "2025.1"},
                   "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": False},
        "nova": {"address": "10.20.0.103", "holders": ["ctl-new"], "releases": {"ctl-old": "", "ctl-new": "2025.1"},
                 "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": False},
        "neutron": {"address": "10.20.0.104", "holders": ["ctl-new"], "releases": {"ctl-old": "", "ctl-new": "2025.1"},
                    "serving": "ctl-new", "serving_release": "2025.1", "done": True, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": False},
    },
    "rolled_back": {
        "keystone": {"address": "10.20.0.101", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                     "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "glance": {"address": "10.20.0.102", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                   "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "nova": {"address": "10.20.0.103", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                 "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "neutron": {"address": "10.20.0.104", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": "2025.1"},
                    "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
    },
    "two_regions": {
        "keystone": {"address": "10.20.0.101", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": ""},
                     "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "glance": {"address": "10.20.0.102", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": ""},
                   "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "nova": {"address": "10.20.0.103", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": ""},
                 "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
        "neutron": {"address": "10.20.0.104", "holders": ["ctl-old"], "releases": {"ctl-old": "2024.1", "ctl-new": ""},
                    "serving": "ctl-old", "serving_release": "2024.1", "done": False, "src": "ctl-old", "dst": "ctl-new", "peer": "ctl-old", "switch": True},
    },
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_as_state_j2(name):
    got = state(**SCENARIOS[name])
    # state.j2 knew only stackhop's own installations: none of these nodes has modes
    assert [comp for comp, s in got.items() if s.pop("adopted")] == []
    for s in got.values():
        s.pop("prepare")
        assert s.pop("nodes") == [s["dst"]]
        assert s.pop("remaining") == ([] if s["done"] else [s["dst"]])
        assert s.pop("sources") == [s["src"]]       # one controller on each side
    assert got == FROM_STATE_J2[name]


CTL = ("ctl1", "ctl2", "ctl3")


def _rolling(releases, components=("keystone", "nova"), modes=None):
    """The rolling state of three controllers, each holding nothing (a load balancer's VIP)."""
    hostvars = {}
    for i, host in enumerate(CTL):
        if releases[i] is None:
            hostvars[host] = {}
            continue
        n = node(own="10.20.0.1%d" % (i + 1), keystone=releases[i], nova_api=releases[i])
        if modes:
            n["modes"] = dict((c, modes[i]) for c in components)
        hostvars[host] = {"control_plane_node": n}
    return state(hostvars, strategy="rolling", components=list(components), old=CTL, new=(), addresses={})


def test_blue_green_behind_load_balancers_leaves_every_old_controller_that_runs_it():
    """Three old controllers behind HAProxy (no service address on any), one new one."""
    hostvars = {host: {"control_plane_node": node(own="10.20.0.1%d" % i, keystone="2024.1",
                                                  nova_api="2024.1" if host != "ctl2" else "")}
                for i, host in enumerate(CTL, 1)}
    hostvars["ctl-new"] = {"control_plane_node": node(own="10.20.0.20")}
    got = state(hostvars, method="haproxy", components=["keystone", "nova"], old=CTL, new=("ctl-new",),
                addresses={})
    assert pick(got, "src", "dst", "sources", "switch", "done") == {
        "keystone": {"src": "ctl1", "dst": "ctl-new", "sources": ["ctl1", "ctl2", "ctl3"], "switch": True,
                     "done": False},
        "nova": {"src": "ctl1", "dst": "ctl-new", "sources": ["ctl1", "ctl3"], "switch": True,
                 "done": False}}
    # keepalived puts the load balancer's VIP on a controller: not a holder of the API. Once
    # the new controller runs the target the component is done, and a second run changes nothing
    vip = "10.20.0.100"
    moved = {host: {"control_plane_node": node([vip] if host == "ctl1" else [], own="10.20.0.1%d" % i,
                                               keystone="2024.1")}
             for i, host in enumerate(CTL, 1)}
    moved["ctl-new"] = {"control_plane_node": node(own="10.20.0.20", keystone="2025.1")}
    again = state(moved, method="haproxy", components=["keystone"], old=CTL, new=("ctl-new",),
                  addresses={"keystone": vip})["keystone"]
    assert (again["holders"], again["serving"], again["done"], again["dst"]) == ([], "ctl-new", True, "ctl-new")
    # in place and rolling leave no other controller
    assert state(hostvars, strategy="in_place", method="haproxy", components=["keystone"], old=CTL,
                 new=(), addresses={})["keystone"]["sources"] == ["ctl1"]


def test_rolling_fresh_goes_through_every_controller_in_order():
    got = _rolling(["2024.1"] * 3)
    for comp in ("keystone", "nova"):
        s = got[comp]
        assert (s["nodes"], s["remaining"], s["src"], s["dst"]) == (list(CTL), list(CTL), "ctl1", "ctl1")
        assert (s["done"], s["switch"], s["peer"], s["prepare"], s["adopted"]) == (False, False, "", False, False)


def test_rolling_resumes_at_the_first_node_not_at_the_target():
    s = _rolling(["2025.1", "2024.1", "2024.1"])["keystone"]
    assert (s["remaining"], s["dst"], s["done"]) == (["ctl2", "ctl3"], "ctl2", False)


def test_rolling_done_when_every_node_runs_the_target():
    s = _rolling(["2025.1"] * 3)["nova"]
    assert (s["remaining"], s["done"], s["dst"]) == ([], True, "ctl1")


def test_rolling_passes_over_a_controller_that_does_not_run_the_component():
    s = _rolling(["2024.1", None, "2025.1"])["keystone"]
    assert (s["nodes"], s["remaining"]) == (["ctl1", "ctl3"], ["ctl1"])


def test_rolling_refuses_the_operators_installation():
    with pytest.raises(AnsibleFilterError, match="not deployed by stackhop.*rolling strategy does not edit"):
        _rolling(["2024.1"] * 3, modes=["adopted", "stackhop", "stackhop"])


def test_a_blue_green_move_prepares_a_new_node_that_does_not_run_the_target():
    assert pick(state(**SCENARIOS["fresh_blue_green"]), "prepare") == dict(
        (comp, {"prepare": True}) for comp in COMPONENTS)
    # half moved: nova runs 2025.1 on the new node already (a resumed run): deployed whole
    # in the window; neutron is still to move
    half = pick(state(**SCENARIOS["half_moved"]), "prepare", "done")
    assert half["nova"] == {"prepare": False, "done": False}
    assert half["neutron"] == {"prepare": True, "done": False}
    # rolled back: the new node's stopped units name the target, deployed whole again
    assert not any(s["prepare"] for s in state(**SCENARIOS["rolled_back"]).values())


def test_no_prepare_in_place_nor_when_done():
    for name in ("fresh_in_place", "done_in_place", "done_blue_green", "dns_moved"):
        assert not any(s["prepare"] for s in state(**SCENARIOS[name]).values()), name


def pick(got, *keys):
    return {comp: {k: s[k] for k in keys} for comp, s in got.items()}


MOVE = ("serving", "done", "src", "dst", "peer", "switch")


def test_fresh_region_goes_to_the_new_controller():
    got = state(**SCENARIOS["fresh_blue_green"])
    assert list(got) == COMPONENTS
    assert set(map(str, pick(got, *MOVE).values())) == {
        str(dict(serving=OLD, done=False, src=OLD, dst=NEW, peer=OLD, switch=True))}


def test_half_moved_region_resumes_component_by_component():
    got = pick(state(**SCENARIOS["half_moved"]), *MOVE)
    done = dict(serving=NEW, done=True, src=OLD, dst=NEW, peer=OLD, switch=False)
    assert got["keystone"] == got["glance"] == done
    # nova runs the target on the new controller but the old one still holds the address:
    # the holder serves, the move (and the switch) is still to do
    assert got["nova"] == got["neutron"] == dict(serving=OLD, done=False, src=OLD, dst=NEW, peer=OLD, switch=True)


def test_rolled_back_region_is_upgraded_again():
    got = pick(state(**SCENARIOS["rolled_back"]), *MOVE)
    assert set(map(str, got.values())) == {
        str(dict(serving=OLD, done=False, src=OLD, dst=NEW, peer=OLD, switch=True))}


def test_the_next_blue_green_upgrade_goes_back_to_the_old_controller():
    got = pick(state(**dict(SCENARIOS["done_blue_green"], target="2025.2")), *MOVE)
    assert got["keystone"] == dict(serving=NEW, done=False, src=NEW, dst=OLD, peer=NEW, switch=True)


@pytest.mark.parametrize("name, done", [("fresh_in_place", False), ("done_in_place", True)])
def test_in_place_stays_on_the_serving_controller(name, done):
    got = pick(state(**SCENARIOS[name]), *MOVE)
    assert set(map(str, got.values())) == {
        str(dict(serving=OLD, done=done, src=OLD, dst=OLD, peer="", switch=False))}


def test_only_the_selected_regions_controllers_count():
    two = state(**SCENARIOS["two_regions"])
    assert two == state(**SCENARIOS["fresh_blue_green"])
    assert all(R2_NEW not in s["releases"] and R2_NEW not in s["holders"] for s in two.values())
    # region 2 selected: its own controllers, done there
    r2 = pick(state(**dict(SCENARIOS["two_regions"], old=(R2_OLD,), new=(R2_NEW,))), *MOVE)
    assert r2["keystone"] == dict(serving=R2_NEW, done=True, src=R2_OLD, dst=R2_NEW, peer=R2_OLD, switch=False)


def test_a_controller_without_facts_holds_nothing_and_runs_nothing():
    got = state(**SCENARIOS["new_unreachable"])["keystone"]
    assert got["releases"] == {OLD: "2024.1", NEW: ""} and got["holders"] == [OLD]
    assert pick({"k": got}, *MOVE)["k"] == dict(serving=OLD, done=False, src=OLD, dst=NEW, peer=OLD, switch=True)
    gone = state(**SCENARIOS["old_unreachable_done"])["keystone"]
    assert (gone["serving"], gone["done"], gone["switch"], gone["releases"][OLD]) == (NEW, True, False, "")
    # nobody answers: the first old controller serves, nothing is done
    none = state({OLD: {}, NEW: {}})["keystone"]
    assert (none["serving"], none["serving_release"], none["done"], none["dst"]) == (OLD, "", False, NEW)


def test_without_a_holder_the_newest_release_serves():
    hv = {OLD: {"control_plane_node": node(keystone="2024.1")},
          NEW: {"control_plane_node": node(keystone="2025.1")}}
    got = state(hv, components=["keystone"])["keystone"]
    assert (got["serving"], got["done"], got["src"], got["dst"], got["switch"]) == (NEW, False, OLD, NEW, True)
    # both hold it: the newest holder serves, not done until the old one let it go
    hv[OLD]["control_plane_node"]["addresses"].append(KS_VIP)
    hv[NEW]["control_plane_node"]["addresses"].append(KS_VIP)
    got = state(hv, components=["keystone"])["keystone"]
    assert (got["holders"], got["serving"], got["done"], got["switch"]) == ([OLD, NEW], NEW, False, True)


def test_other_endpoint_methods_switch_every_time():
    got = pick(state(**SCENARIOS["dns_moved"]), *MOVE)
    assert got["keystone"] == dict(serving=NEW, done=True, src=OLD, dst=NEW, peer=OLD, switch=True)


def test_neutron_reads_its_second_unit_and_unsupported_components_are_left_out():
    hv = {OLD: {"control_plane_node": node([NEUTRON_VIP], neutron_api="", neutron_server="2024.1")},
          NEW: {"control_plane_node": node(neutron_api="2025.1", neutron_server="2024.1")}}
    got = state(hv, components=["ironic", "neutron", "placement"])
    assert list(got) == ["neutron", "placement"]
    assert got["neutron"]["releases"] == {OLD: "2024.1", NEW: "2025.1"}
    # placement has no address: no holder, and the endpoint is not read
    assert (got["placement"]["address"], got["placement"]["holders"], got["placement"]["switch"]) == ("", [], True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(old=()), "no controller in stackhop_controllers"),
    (dict(new=()), "no controller in stackhop_controllers_new"),
])
def test_missing_controllers_are_refused(kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        state(**dict(SCENARIOS["fresh_blue_green"], **kwargs))


def test_in_place_needs_no_new_controller_and_nothing_is_asked_without_components():
    assert state(**dict(SCENARIOS["fresh_blue_green"], strategy="in_place", new=()))["keystone"]["dst"] == OLD
    assert state({}, components=[], old=(), new=()) == {}


def test_a_release_the_model_does_not_know_is_refused():
    with pytest.raises(AnsibleFilterError, match="Unknown OpenStack release"):
        state({OLD: {"control_plane_node": node([KS_VIP], keystone="2024.1-custom")}, NEW: {}},
              components=["keystone"])


def test_the_pure_function_takes_a_release_index():
    nodes = {"a": {"addresses": ["vip"], "units": {"u": "one"}}, "b": {"addresses": [], "units": {"u": "two"}}}
    got = cps.decide(nodes, ["c"], ["c"], ["a"], ["b"], {"c": "vip"}, {"c": ["u"]},
                     {"one": 1, "two": 2}.get, 2, "blue_green", "vip")
    assert (got["c"]["serving"], got["c"]["dst"], got["c"]["done"]) == ("a", "b", False)


def test_an_adopted_component_is_upgraded_in_place_and_not_moved_blue_green():
    debian = node([KS_VIP], keystone="2022.2", glance_api="2022.2", nova_api="2022.2", neutron_api="2022.2")
    debian["modes"] = {"keystone": "adopted", "glance": "adopted", "nova": "adopted", "neutron": "adopted"}
    got = state({OLD: {"control_plane_node": debian}}, target="2024.1", strategy="in_place", new=())
    assert pick(got, "adopted", "src", "dst", "done")["keystone"] == {
        "adopted": True, "src": OLD, "dst": OLD, "done": False}
    # a package moved onto a venv by an earlier run is still adopted, and done at the target
    moved = dict(debian, units=dict(debian["units"], keystone="2024.1"))
    got = state({OLD: {"control_plane_node": moved}}, target="2024.1", strategy="in_place", new=())
    assert pick(got, "adopted", "done")["keystone"] == {"adopted": True, "done": True}
    # blue-green to a node stackhop would deploy from its templates would drop the operator's files
    with pytest.raises(AnsibleFilterError, match="keystone on ctl-old was not deployed by stackhop .* "
                                                 "control_plane_strategy in_place"):
        state({OLD: {"control_plane_node": debian}, NEW: {"control_plane_node": node()}}, target="2024.1")


# --- The request check (roles/control_plane/tasks/main.yml) -----------------------------
HA = ("ctl1", "ctl2", "ctl3")


def problem(strategy, old=HA, new=(), lb=HA, components=("keystone", "nova"), method="vip", addresses=None):
    from ansible_collections.stackhop.upgrade.plugins.filter.control_plane_state import control_plane_request_problem
    return control_plane_request_problem(strategy, old, new, lb, components, SUPPORTED, method,
                                         ADDRESSES if addresses is None else addresses, "RegionOne")


def test_rolling_needs_no_new_controller_and_no_service_address():
    # the HA region's first rolling run was refused here: the check asked rolling for
    # blue_green's new controller and the vip switch's service addresses
    assert problem("rolling", addresses={}) == ""
    assert problem("in_place", old=[OLD], lb=[], addresses={}) == ""
    assert problem("blue_green", old=[OLD], new=[NEW], lb=[]) == ""
    assert problem("blue_green", new=[NEW], method="haproxy", addresses={}) == ""


@pytest.mark.parametrize("args, kwargs, fragment", [
    (("canary",), {}, "control_plane_strategy is canary; use blue_green, in_place or rolling."),
    (("in_place",), dict(old=[]), "no controller in stackhop_controllers; add the serving controller"),
    (("rolling",), dict(old=["ctl1"]), "the region has one controller; use in_place or blue_green."),
    (("rolling",), dict(lb=[]), "stackhop_lb names no HAProxy node; add the nodes that balance"),
    (("blue_green",), dict(old=[OLD]), "blue_green needs the new controller in stackhop_controllers_new"),
    (("in_place",), dict(components=["keystone", "heat"]), "no upgrade tasks exist yet for heat; remove it"),
    (("blue_green",), dict(old=[OLD], new=[NEW], components=["keystone", "cinder"]),
     "the vip endpoint switch needs a service address for cinder; add it to stackhop_service_addresses"),
    (("blue_green",), dict(new=[NEW], lb=[], method="haproxy"),
     "the haproxy endpoint switch moves each component's backends on the load balancers, but stackhop_lb "
     "names no HAProxy node"),
])
def test_a_bad_request_is_one_sentence_naming_the_fix(args, kwargs, fragment):
    got = problem(*args, **kwargs)
    assert got.startswith("Cannot upgrade the control plane of RegionOne: ") and fragment in got
    assert got.endswith(".") and got.count(". ") == 0, got
    # another endpoint method needs no address
    if "vip endpoint" in fragment:
        assert problem(*args, **dict(kwargs, method="catalog")) == ""
