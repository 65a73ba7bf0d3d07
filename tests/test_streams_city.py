"""City geometry: the shipped Guangzhou map, the grid, and swapping in another city's GeoJSON."""

import json

from streams.city import City, haversine_m, parse_cell_id
from streams.settings import load


def test_guangzhou_has_eleven_districts_and_a_kilometre_grid():
    city = City.load(load().city_geojson, 1000.0)
    assert len(city.districts) == 11
    assert "天河区" in {d.name for d in city.districts.values()}
    assert 6000 < len(city.cells) < 9000
    cid = city.cell_at(23.13, 113.32)  # Tianhe
    assert cid is not None and city.districts[city.cells[cid].district].name_en == "Tianhe"
    c = city.cells[cid]
    right = city.cells.get(f"r{c.row:03d}c{c.col + 1:03d}")
    assert right is not None and 900 < haversine_m(c.lat, c.lon, right.lat, right.lon) < 1100
    assert city.cell_at(40.0, 116.4) is None  # Beijing is not in Guangzhou


def test_neighbours_are_a_ring_inside_the_city():
    city = City.load(load().city_geojson, 1000.0)
    cid = city.cell_at(23.13, 113.32)
    ring = city.neighbours(cid, 1)
    assert cid in ring and len(ring) == 9
    r, c = parse_cell_id(cid)
    assert all(abs(parse_cell_id(n)[0] - r) <= 1 and abs(parse_cell_id(n)[1] - c) <= 1 for n in ring)


def test_another_city_geojson_can_be_swapped_in(tmp_path):
    square = [[[0.0, 0.0], [0.05, 0.0], [0.05, 0.05], [0.0, 0.05], [0.0, 0.0]]]
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "west", "name": "West"},
         "geometry": {"type": "Polygon", "coordinates": square}},
        {"type": "Feature", "properties": {"id": "east", "name": "East"},
         "geometry": {"type": "Polygon", "coordinates": [[[x + 0.05, y] for x, y in square[0]]]}},
    ]}
    path = tmp_path / "town.geojson"
    path.write_text(json.dumps(doc))
    town = City.load(path, 500.0)
    assert set(town.districts) == {"west", "east"}
    assert {c.district for c in town.cells.values()} == {"west", "east"}
    # 0.1° x 0.05° near the equator at 500 m cells: about 22 x 11 cells
    assert 200 < len(town.cells) < 300
    assert town.district_of(0.025, 0.075) == "east"
