"""Parts of one statement keep their own parameters."""

from sqlalchemy.ext.asyncio import AsyncEngine

from app.kit.sql import Part, combine


async def test_each_part_reads_its_own_parameters(db: AsyncEngine) -> None:
    parts = [
        Part("a AS (SELECT $1::int + $2::int AS v)", [1, 2], "(SELECT v FROM a) AS a"),
        Part("b AS (SELECT $1::text || $2::text AS v)", ["x", "y"], "(SELECT v FROM b) AS b"),
        Part("c AS (SELECT cardinality($1::int[]) AS v)", [[7] * 12], "(SELECT v FROM c) AS c"),
    ]
    sql, args = combine(parts)
    assert "$5::int[]" in sql and args == [1, 2, "x", "y", [7] * 12]
    async with db.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        row = await raw.fetchrow(sql, *args)
    assert dict(row) == {"a": 3, "b": "xy", "c": 12}
