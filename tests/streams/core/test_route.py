from gigbridge.divisions import Level, default_table
from streams.core.route import Route, RoutingConfig, new_topic_partitions, routes_for

TABLE = default_table()
DEFAULT = RoutingConfig()


def route(event_type, code, config=DEFAULT, **fields):
    return routes_for(event_type, {"division_code": code, **fields}, config, TABLE.level_of)


def test_county_office_by_default():
    assert route("sites", "310101002000") == [Route("office", "office-310101", "gov.office.310101.sites")]


def test_township_level_and_regional_override():
    township = RoutingConfig(Level.TOWNSHIP)
    assert route("headcounts", "310101002000", township)[0].topic == "gov.office.310101002.headcounts"
    override = RoutingConfig.from_names("county", {"3101": "township"})
    assert route("headcounts", "310101002000", override)[0].topic == "gov.office.310101002.headcounts"
    assert route("headcounts", "440305000000", override)[0].topic == "gov.office.440305.headcounts"


def test_event_coarser_than_office_level_goes_to_its_own_level():
    # a county-level code cannot be cut at township level: the county office gets it
    assert route("sites", "440305000000", RoutingConfig(Level.TOWNSHIP))[0].topic == "gov.office.440305.sites"


def test_village_codes_route_to_their_county():
    assert route("sites", "110101001001")[0].topic == "gov.office.110101.sites"


def test_insured_incidents_also_go_to_the_provincial_insurer():
    routes = route("incidents", "440305000000", insured=True)
    assert [r.topic for r in routes] == ["gov.office.440305.incidents", "gov.insurance.44.incidents"]
    assert routes[1].destination == "insurer-44"
    assert [r.kind for r in route("incidents", "440305000000", insured=False)] == ["office"]


def test_city_prefix_acl_covers_its_counties():
    # the hierarchy the ACL design relies on: a city's prefix is a prefix of its counties' topics
    topic = route("sites", "310101002000")[0].topic
    assert topic.startswith("gov.office.3101")


def test_office_topics_get_their_own_partition_count_and_other_outputs_the_default():
    assert new_topic_partitions("gov.office.310101.sites", default=6, office=1) == 1
    assert new_topic_partitions("gov.office.31.incidents", default=6, office=2) == 2
    assert new_topic_partitions("gov.insurance.31.incidents", default=6, office=1) == 6
    assert new_topic_partitions("hub.validated.sites", default=3, office=1) == 3
