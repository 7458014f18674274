"""Deterministic demo data for the embedded platform.

:func:`seed_warehouse` fills a warehouse, entirely inside DuckDB (about a
third of a second for ~770k rows):

- ``public.cta_ridership_daily``: daily rides at 145 rail stations from
  2011-01-01 to 2023-12-31 (station_id, stationname, date, daytype, rides) with
  weekday/Saturday/Sunday-holiday patterns, seasons, a slow trend and the 2020
  drop and recovery;
- ``brandable_customers.brandable_all_users`` (40,000 customers with numeric
  and categorical features, some missing),
  ``brandable_customers.brandable_pilot`` (an ``upgrade`` label with real
  signal for a random 10,000 of them) and ``public.customer_churn`` (features
  plus a ``churned`` label), for modelling;
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

from typing import TYPE_CHECKING, Any

from .warehouse import Warehouse

if TYPE_CHECKING:
    from .contract import Services

__all__ = [
    "DEMO_CUSTOMERS",
    "DEMO_LABELLED",
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

#: Customers in ``brandable_customers.brandable_all_users`` (and ``public.customer_churn``).
DEMO_CUSTOMERS = 40_000
#: Customers with an ``upgrade`` label in ``brandable_customers.brandable_pilot``.
DEMO_LABELLED = 10_000

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


def _customers_sql() -> str:
    """SQL selecting the demo customers: numbers and categories that hang together.

    Plans follow spend (premium customers pay more), sessions follow devices
    and age, and ``avg_session_minutes`` is missing when a customer had no
    session (and for a few others), as real exports are.
    """
    u = {k: _uniform("i", str(k)) for k in range(1, 12)}
    return f"""WITH u AS (SELECT i AS brandable_user_id,
  {", ".join(f"{sql} AS u{k}" for k, sql in u.items())}
  FROM range(1, {DEMO_CUSTOMERS + 1}) r(i)
), f AS (SELECT *,
  (18 + floor(u1 * 60))::INTEGER AS age,
  (['basic', 'standard', 'premium'])[1 + floor(pow(u2, 1.6) * 3)::INTEGER] AS plan,
  (1 + floor(u3 * 72))::INTEGER AS tenure_months,
  (1 + floor(pow(u7, 1.5) * 5))::INTEGER AS devices
  FROM u
), g AS (SELECT *,
  floor(-ln(1 - u8) * greatest(1, 4 + 3 * devices - 0.06 * (age - 18)))::INTEGER
    AS sessions_last_30d
  FROM f
)
SELECT
  brandable_user_id::INTEGER AS brandable_user_id,
  age,
  plan::VARCHAR AS plan,
  tenure_months,
  round(CASE plan WHEN 'basic' THEN 15 WHEN 'standard' THEN 35 ELSE 60 END
    + u4 * 40, 2)::DOUBLE AS monthly_spend,
  floor(pow(u5, 3) * 9)::INTEGER AS support_calls,
  (['north', 'south', 'east', 'west', 'central'])[1 + floor(u6 * 5)::INTEGER]::VARCHAR
    AS region,
  (['web', 'app', 'store', 'referral', 'partner'])[1 + floor(pow(u9, 1.3) * 5)::INTEGER]::VARCHAR
    AS signup_channel,
  devices,
  sessions_last_30d,
  CASE WHEN sessions_last_30d = 0 OR u10 < 0.03 THEN NULL
    ELSE round(4 + 20 * u10 + 0.1 * age, 1)::DOUBLE END AS avg_session_minutes,
  (u11 < 0.55)::BOOLEAN AS email_opt_in
FROM g"""


def _pilot_sql() -> str:
    """SQL selecting the pilot: a random sample of customers with an ``upgrade`` label.

    The chance of upgrading grows with engagement (sessions, devices), spend
    and tenure, peaks for customers in their thirties, falls with support
    calls and differs by plan and signup channel: a label with real signal,
    some of it non-linear.
    """
    z = """-2.2
    + 0.09 * least(a.sessions_last_30d, 30) + 0.25 * (a.devices - 2)
    + 0.03 * (a.monthly_spend - 50) + 0.015 * a.tenure_months
    - 0.0012 * pow(a.age - 35, 2) - 0.35 * a.support_calls
    + CASE a.plan WHEN 'standard' THEN 0.9 WHEN 'basic' THEN 0.3 ELSE -1.6 END
    + CASE a.signup_channel WHEN 'referral' THEN 0.7 WHEN 'app' THEN 0.4
        WHEN 'partner' THEN -0.4 ELSE 0 END
    + CASE WHEN a.email_opt_in THEN 0.3 ELSE 0 END"""
    return f"""SELECT a.brandable_user_id,
  (1.0 / (1.0 + exp(-({z}))) > {_uniform("a.brandable_user_id", "12")})::INTEGER AS upgrade
FROM brandable_customers.brandable_all_users a
ORDER BY {_uniform("a.brandable_user_id", "13")}
LIMIT {DEMO_LABELLED}"""


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
{_customers_sql()};

CREATE OR REPLACE TABLE public.customer_churn AS
SELECT a.*,
  (1.0 / (1.0 + exp(-(-1.2 + 0.45 * a.support_calls - 0.05 * a.tenure_months
    + 0.02 * (a.monthly_spend - 50) + CASE a.plan WHEN 'basic' THEN 0.6 ELSE 0 END)))
    > {_uniform("a.brandable_user_id", "11")})::INTEGER AS churned
FROM brandable_customers.brandable_all_users a;

CREATE OR REPLACE TABLE brandable_customers.brandable_pilot AS
{_pilot_sql()};
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


def seed_builtins(platform: Services) -> dict[str, int]:
    """Give a platform the objects every platform has, unless it has them.

    Today these are the CivisML templates (training, prediction and
    registration) and their aliases; see
    :mod:`civis_jupyter.platform.civisml.templates`.

    Parameters
    ----------
    platform : Services
        Gives ``store``.

    Returns
    -------
    dict
        Job type -> id of each template created now.
    """
    from .civisml.templates import install_templates

    return install_templates(platform)


def seed_demo(platform: Services) -> dict[str, Any]:
    """Seed a platform: demo tables in its default database, a demo script, templates.

    Parameters
    ----------
    platform : Services
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
