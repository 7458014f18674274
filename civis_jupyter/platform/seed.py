"""Deterministic demo data for the embedded platform.

:func:`seed_warehouse` fills a warehouse, entirely inside DuckDB (a second or
two for ~690k rows):

- ``public.cta_ridership_daily``: daily rides at 145 rail stations from
  2011-01-01 to 2023-12-31 (station_id, stationname, date, daytype, rides) with
  weekday/Saturday/Sunday-holiday patterns, seasons, a slow trend and the 2020
  drop and recovery;
- ``brandable_customers.brandable_all_users`` (5,000 customers with features),
  ``brandable_customers.brandable_pilot`` (an ``upgrade`` label for 2,000 of
  them) and ``public.customer_churn`` (features plus a ``churned`` label), for
  modelling;
- an empty ``scratch`` schema.

Every value comes from integer hashing of row keys, so the data are the same
on every machine and every run. :func:`seed_demo` seeds a platform's default
database and adds a demo container script and two public script templates,
"Greeting" (a container script printing ``Hello, $NAME!``) and "Import from
URL" (a Python script loading a CSV at a URL into a table).
:func:`seed_builtins` adds what every platform has, seeded or not: the
CivisML templates.
"""

from __future__ import annotations

from typing import Any

from .warehouse import Warehouse

__all__ = [
    "DEMO_SCRIPT_COMMAND",
    "DEMO_TEMPLATE_COMMAND",
    "STATION_NAMES",
    "seed_builtins",
    "seed_demo",
    "seed_warehouse",
]

_BASE_NAMES = [
    "Austin", "Oak Park", "Harlem/Lake", "Central", "Cicero", "Pulaski",
    "Conservatory", "Kedzie", "California", "Ashland", "Morgan", "Clinton",
    "Clark/Lake", "State/Lake", "Washington/Wabash", "Adams/Wabash",
    "Harold Washington Library", "LaSalle/Van Buren", "Quincy",
    "Washington/Wells", "Randolph/Wabash", "Madison/Wabash", "Roosevelt",
    "Cermak-Chinatown", "Sox-35th", "47th", "Garfield", "63rd", "69th", "79th",
    "87th", "95th/Dan Ryan", "Howard", "Jarvis", "Morse", "Loyola", "Granville",
    "Thorndale", "Bryn Mawr", "Berwyn", "Argyle", "Lawrence", "Wilson",
    "Sheridan", "Addison", "Belmont", "Fullerton", "North/Clybourn",
    "Clark/Division", "Chicago", "Grand", "Lake", "Monroe", "Jackson",
    "Harrison", "O'Hare", "Rosemont", "Cumberland", "Harlem", "Jefferson Park",
    "Montrose", "Irving Park", "Logan Square", "Western", "Damen", "Division",
    "UIC-Halsted", "Racine", "Illinois Medical District", "Forest Park",
    "Midway", "35th/Archer", "Halsted", "Kimball", "Francisco", "Rockwell",
    "Paulina", "Southport", "Diversey", "Wellington", "Merchandise Mart",
    "Armitage", "Sedgwick", "Dempster-Skokie", "Oakton-Skokie", "Linden",
    "Noyes", "Foster", "Davis", "Dempster", "Main", "South Boulevard",
    "King Drive", "Cottage Grove", "Polk", "18th", "Kostner", "54th/Cermak",
    "Laramie", "Ridgeland", "Cermak-McCormick Place", "Kedzie-Homan",
    "Library", "Washington", "Clark/Lake-Blue", "Garfield-Green",
    "Indiana", "43rd", "51st", "Sox-35th-Green", "Wabash/Roosevelt",
    "Western-Orange", "Kedzie-Orange", "Pulaski-Orange", "Ashland-Orange",
    "Halsted-Orange", "Western-Pink", "Damen-Pink", "California-Pink",
    "Kedzie-Pink", "Central Park", "Western-Brown", "Kedzie-Brown",
    "Francisco-Brown", "Irving Park-Brown", "Montrose-Brown", "Damen-Brown",
    "Western-Blue", "California-Blue", "Damen-Blue", "Addison-Blue",
    "Belmont-Blue", "Irving Park-Blue", "Montrose-Blue", "Harlem-Blue",
    "Austin-Blue", "Cicero-Blue", "Pulaski-Blue", "Kedzie-Blue",
    "Jackson-Blue", "Monroe-Blue", "Chicago-Blue", "Grand-Blue",
    "Division-Blue", "Oak Park-Blue", "Morgan-Lake",
]  # fmt: skip

#: The 145 station names, in station order.
STATION_NAMES: list[str] = _BASE_NAMES[:145]

#: Command of the demo container script (prints, then sets no outputs).
DEMO_SCRIPT_COMMAND = (
    'echo "Hello from the demo container script (job $CIVIS_JOB_ID, '
    'run $CIVIS_RUN_ID)"; '
    'python -c "import sys; print(sys.version.split()[0])"'
)

#: Command of the demo custom-script template (uses its NAME argument).
DEMO_TEMPLATE_COMMAND = 'echo "Hello, ${NAME:-world}!"'

_P = 2147483647  # 2**31 - 1, so squares of residues fit in BIGINT
_LINEAR = (
    f"(((({{a}})::BIGINT * 2654435761 + ({{b}}) * 40503 + ({{c}}) * 97) % {_P} + {_P}) % {_P})"
)


def _uniform(a: str, b: str = "0", c: str = "0") -> str:
    """SQL for a deterministic uniform number in [0, 1) from integer keys.

    A linear mix of the keys goes through two rounds of squaring modulo a
    prime, which breaks the linear pattern between neighbouring keys.
    """
    x = _LINEAR.format(a=a, b=b, c=c)
    x = f"(({x} * {x} + 1013904223) % {_P})"
    x = f"(({x} * {x} + 12345) % {_P})"
    return f"({x}::DOUBLE / {_P}.0)"


def seed_warehouse(wh: Warehouse) -> dict[str, int]:
    """Create the demo tables in a warehouse (replacing earlier copies).

    Parameters
    ----------
    wh : Warehouse
        The warehouse to fill.

    Returns
    -------
    dict
        ``"schema.table"`` -> row count.
    """
    if len(set(STATION_NAMES)) != 145:
        raise RuntimeError("the demo station names must be 145 distinct names")
    names = ", ".join("'" + n.replace("'", "''") + "'" for n in STATION_NAMES)
    noise = _uniform("s.station_id", "d.dn", "7")
    base = _uniform("s.station_id", "13", "1")
    sql = f"""
CREATE SCHEMA IF NOT EXISTS scratch;
CREATE SCHEMA IF NOT EXISTS brandable_customers;
CREATE OR REPLACE TABLE public.cta_ridership_daily AS
WITH stations AS (
  SELECT 40010 + 10 * (i - 1) AS station_id, list_value({names})[i] AS stationname
  FROM range(1, 146) r(i)
), days AS (
  SELECT (DATE '2011-01-01' + INTERVAL (n) DAY)::DATE AS d, n AS dn
  FROM range(0, DATE '2023-12-31' - DATE '2011-01-01' + 1) r(n)
), typed AS (
  SELECT d, dn,
    CASE
      WHEN (month(d) = 1 AND day(d) = 1) OR (month(d) = 7 AND day(d) = 4)
        OR (month(d) = 12 AND day(d) = 25) OR dayofweek(d) = 0 THEN 'U'
      WHEN dayofweek(d) = 6 THEN 'A'
      ELSE 'W'
    END AS daytype
  FROM days
)
SELECT
  s.station_id::INTEGER AS station_id,
  s.stationname::VARCHAR AS stationname,
  d.d AS date,
  d.daytype::VARCHAR AS daytype,
  greatest(0, round(
    (300 + 9000 * pow({base}, 2.2))
    * CASE d.daytype WHEN 'W' THEN 1.0 WHEN 'A' THEN 0.62 ELSE 0.45 END
    * (1 + 0.08 * sin(2 * pi() * (dayofyear(d.d) - 100) / 365.25))
    * (1 - 0.012 * (year(d.d) - 2011))
    * CASE
        WHEN d.d < DATE '2020-03-15' THEN 1.0
        WHEN d.d < DATE '2021-06-01' THEN 0.28
        ELSE least(0.62, 0.35 + 0.0006 * (d.d - DATE '2021-06-01'))
      END
    * (0.85 + 0.3 * {noise})
  ))::INTEGER AS rides
FROM stations s CROSS JOIN typed d
ORDER BY d.d, s.station_id;

CREATE OR REPLACE TABLE brandable_customers.brandable_all_users AS
WITH u AS (SELECT i AS brandable_user_id,
  {_uniform("i", "1")} AS u1, {_uniform("i", "2")} AS u2, {_uniform("i", "3")} AS u3,
  {_uniform("i", "4")} AS u4, {_uniform("i", "5")} AS u5, {_uniform("i", "6")} AS u6
  FROM range(1, 5001) r(i))
SELECT
  brandable_user_id::INTEGER AS brandable_user_id,
  (18 + floor(u1 * 60))::INTEGER AS age,
  (['basic', 'standard', 'premium'])[1 + floor(pow(u2, 1.6) * 3)::INTEGER]::VARCHAR
    AS plan,
  (1 + floor(u3 * 72))::INTEGER AS tenure_months,
  round(15 + u4 * 85, 2)::DOUBLE AS monthly_spend,
  floor(pow(u5, 3) * 9)::INTEGER AS support_calls,
  (['north', 'south', 'east', 'west', 'central'])[1 + floor(u6 * 5)::INTEGER]::VARCHAR
    AS region
FROM u;

CREATE OR REPLACE TABLE public.customer_churn AS
SELECT a.*,
  (1.0 / (1.0 + exp(-(-1.2 + 0.45 * a.support_calls - 0.05 * a.tenure_months
    + 0.02 * (a.monthly_spend - 50) + CASE a.plan WHEN 'basic' THEN 0.6 ELSE 0 END)))
    > {_uniform("a.brandable_user_id", "11")})::INTEGER AS churned
FROM brandable_customers.brandable_all_users a;

CREATE OR REPLACE TABLE brandable_customers.brandable_pilot AS
SELECT a.brandable_user_id,
  (1.0 / (1.0 + exp(-(-2.0 + 0.03 * (a.monthly_spend - 50) + 0.02 * a.tenure_months
    + CASE a.plan WHEN 'standard' THEN 1.0 WHEN 'basic' THEN 0.4 ELSE -1.5 END)))
    > {_uniform("a.brandable_user_id", "12")})::INTEGER AS upgrade
FROM brandable_customers.brandable_all_users a
WHERE a.brandable_user_id % 5 IN (0, 2);
"""
    wh.execute(sql)
    counts = {}
    for table in (
        "public.cta_ridership_daily",
        "brandable_customers.brandable_all_users",
        "brandable_customers.brandable_pilot",
        "public.customer_churn",
    ):
        counts[table] = int(wh.execute(f"SELECT count(*) FROM {table}").rows[0][0])
    return counts


def seed_builtins(platform: Any) -> dict[str, int]:
    """Give a platform the objects every platform has, unless it has them.

    Today these are the CivisML templates (training, prediction and
    registration) and their aliases; see
    :mod:`civis_jupyter.platform.civisml.templates`.

    Parameters
    ----------
    platform : LocalPlatform-like
        Gives ``store``.

    Returns
    -------
    dict
        Job type -> id of each template created now.
    """
    from .civisml.templates import install_templates

    return install_templates(platform)


def seed_demo(platform: Any) -> dict[str, Any]:
    """Seed a platform: demo tables in its default database, a demo script, templates.

    Parameters
    ----------
    platform : LocalPlatform-like
        Gives ``default_database_id``, ``warehouses`` and ``store``.

    Returns
    -------
    dict
        ``tables`` (name -> rows), ``script_id``, ``template_script_id``,
        ``template_id`` and ``import_template_id``.
    """
    from .behaviours.scripts import create_demo_scripts

    wh = platform.warehouses.get(platform.default_database_id)
    tables = seed_warehouse(wh)
    ids = create_demo_scripts(platform, DEMO_SCRIPT_COMMAND, DEMO_TEMPLATE_COMMAND)
    return {"tables": tables, **ids}
