"""feedback: the rule tables seeded (the production calendar 2024-2027, the answer deadlines); each appeal keeps
the rule versions its due date was counted with and the limit of its extension

Revision ID: 0003
"""
from services.common.migrations import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = "c0002"  # rule_versions


def upgrade() -> None:
    # Appeals registered before the rule tables were counted with the code's calendar and two months'
    # extension; their versions are not known by name ('').
    execute_script("""
ALTER TABLE appeals ADD COLUMN rules_version text NOT NULL DEFAULT '',
                    ADD COLUMN extension_limit date;
UPDATE appeals SET extension_limit = (registered_on + interval '2 months')::date;
ALTER TABLE appeals ALTER COLUMN extension_limit SET NOT NULL;
INSERT INTO rule_versions (rule_table, effective_from, vals, legal_basis, note, published_by) VALUES
('deadlines', '2021-07-01', '{"working_days": 15, "max_extension_months": 2}', '{"act": "Административный процедурно-процессуальный кодекс Республики Казахстан", "number": "350-VI", "date": "2020-06-29", "url": "https://adilet.zan.kz/rus/docs/K2000000350"}',
 'Administrative Procedural Code, art. 76 (in force 1 July 2021): an appeal is considered within «пятнадцать рабочих дней со дня поступления обращения»; the period may be extended «не более чем до двух месяцев». The project counts from the day after registration and clamps the two months to the month''s end (31 December + 2 months = 28/29 February).', 'migration 0003'),
('calendar', '2024-01-01', '{"days_off": [{"date": "2024-01-01", "why": "New Year"},
    {"date": "2024-01-02", "why": "New Year"},
    {"date": "2024-03-08", "why": "International Women''s Day"},
    {"date": "2024-03-21", "why": "Nauryz"},
    {"date": "2024-03-22", "why": "Nauryz"},
    {"date": "2024-03-25", "why": "Nauryz: 23 Mar is a Saturday"},
    {"date": "2024-05-01", "why": "Unity Day"},
    {"date": "2024-05-07", "why": "Defender of the Fatherland Day"},
    {"date": "2024-05-08", "why": "day off transferred from Saturday 4 May (the Minister of Labour''s order of 17 April 2024)"},
    {"date": "2024-05-09", "why": "Victory Day"},
    {"date": "2024-07-08", "why": "Capital Day: 6 Jul is a Saturday"},
    {"date": "2024-08-30", "why": "Constitution Day"},
    {"date": "2024-10-25", "why": "Republic Day"},
    {"date": "2024-12-16", "why": "Independence Day"}],
  "working_weekends": [{"date": "2024-05-04", "why": "Saturday worked for Wednesday 8 May (the same order)"}],
  "working_days": 249}',
 '{"act": "Закон Республики Казахстан «О праздниках в Республике Казахстан»", "number": "267-II", "date": "2001-12-13", "url": "https://adilet.zan.kz/rus/docs/Z010000267_"}',
 'A holiday on a Saturday or Sunday makes the next working day a day off; the religious holidays (Orthodox Christmas, Kurban Ait) are not moved. Orthodox Christmas (7 January) and Kurban Ait (16 June) fall on Sundays. Transfer: the day off moved from Saturday 4 May to Wednesday 8 May by the order of the Minister of Labour and Social Protection of the Population of 17 April 2024 under the Labour Code, art. 85(3) (adilet G24G0000109, https://adilet.zan.kz/rus/docs/G24G0000109). 249 working days, counted from these dates: the project''s earlier calendar did not say the Ministry''s calendar states it; the Ministry''s balance of working time published before the year shows 248 (19 working days in June), not reconciled here.', 'migration 0003'),
('calendar', '2025-01-01', '{"days_off": [{"date": "2025-01-01", "why": "New Year"},
    {"date": "2025-01-02", "why": "New Year"},
    {"date": "2025-01-03", "why": "day off transferred from Sunday 5 January (the Minister of Labour''s order, November 2024)"},
    {"date": "2025-01-07", "why": "Orthodox Christmas"},
    {"date": "2025-03-10", "why": "International Women''s Day: 8 Mar is a Saturday"},
    {"date": "2025-03-21", "why": "Nauryz"},
    {"date": "2025-03-24", "why": "Nauryz: 22 Mar is a Saturday"},
    {"date": "2025-03-25", "why": "Nauryz: 23 Mar is a Sunday"},
    {"date": "2025-05-01", "why": "Unity Day"},
    {"date": "2025-05-07", "why": "Defender of the Fatherland Day"},
    {"date": "2025-05-09", "why": "Victory Day"},
    {"date": "2025-06-06", "why": "Kurban Ait"},
    {"date": "2025-07-07", "why": "Capital Day: 6 Jul is a Sunday"},
    {"date": "2025-09-01", "why": "Constitution Day: 30 Aug is a Saturday"},
    {"date": "2025-10-27", "why": "Republic Day: 25 Oct is a Saturday"},
    {"date": "2025-12-16", "why": "Independence Day"}],
  "working_weekends": [{"date": "2025-01-05", "why": "Sunday worked for Friday 3 January (the same order)"}],
  "working_days": 246}',
 '{"act": "Закон Республики Казахстан «О праздниках в Республике Казахстан»", "number": "267-II", "date": "2001-12-13", "url": "https://adilet.zan.kz/rus/docs/Z010000267_"}',
 'A holiday on a Saturday or Sunday makes the next working day a day off; the religious holidays (Orthodox Christmas, Kurban Ait) are not moved. Transfer: the day off moved from Sunday 5 January to Friday 3 January by the order of the Minister of Labour and Social Protection of the Population (November 2024; adilet G24G0000436, https://adilet.zan.kz/rus/docs/G24G0000436). 246 working days, counted from these dates; the project''s earlier calendar did not say the Ministry''s calendar states it, and it is not checked here.', 'migration 0003'),
('calendar', '2026-01-01', '{"days_off": [{"date": "2026-01-01", "why": "New Year"},
    {"date": "2026-01-02", "why": "New Year"},
    {"date": "2026-01-07", "why": "Orthodox Christmas"},
    {"date": "2026-03-09", "why": "International Women''s Day: 8 Mar is a Sunday"},
    {"date": "2026-03-23", "why": "Nauryz"},
    {"date": "2026-03-24", "why": "Nauryz: 21 Mar is a Saturday"},
    {"date": "2026-03-25", "why": "Nauryz: 22 Mar is a Sunday"},
    {"date": "2026-05-01", "why": "Unity Day"},
    {"date": "2026-05-07", "why": "Defender of the Fatherland Day"},
    {"date": "2026-05-11", "why": "Victory Day: 9 May is a Saturday"},
    {"date": "2026-05-27", "why": "Kurban Ait"},
    {"date": "2026-07-06", "why": "Capital Day"},
    {"date": "2026-08-31", "why": "Constitution Day: 30 Aug is a Sunday"},
    {"date": "2026-10-26", "why": "Republic Day: 25 Oct is a Sunday"},
    {"date": "2026-12-16", "why": "Independence Day"}],
  "working_weekends": [],
  "working_days": 246}',
 '{"act": "Закон Республики Казахстан «О праздниках в Республике Казахстан»", "number": "267-II", "date": "2001-12-13", "url": "https://adilet.zan.kz/rus/docs/Z010000267_"}',
 'A holiday on a Saturday or Sunday makes the next working day a day off; the religious holidays (Orthodox Christmas, Kurban Ait) are not moved. The calendar as the Ministry of Labour published it on 5 December 2025, with 246 working days: no transfers; Constitution Day, Sunday 30 August, made Monday 31 August a day off.', 'migration 0003'),
('calendar', '2026-07-01', '{"days_off": [{"date": "2026-01-01", "why": "New Year"},
    {"date": "2026-01-02", "why": "New Year"},
    {"date": "2026-01-07", "why": "Orthodox Christmas"},
    {"date": "2026-03-09", "why": "International Women''s Day: 8 Mar is a Sunday"},
    {"date": "2026-03-23", "why": "Nauryz"},
    {"date": "2026-03-24", "why": "Nauryz: 21 Mar is a Saturday"},
    {"date": "2026-03-25", "why": "Nauryz: 22 Mar is a Sunday"},
    {"date": "2026-05-01", "why": "Unity Day"},
    {"date": "2026-05-07", "why": "Defender of the Fatherland Day"},
    {"date": "2026-05-11", "why": "Victory Day: 9 May is a Saturday"},
    {"date": "2026-05-27", "why": "Kurban Ait"},
    {"date": "2026-07-06", "why": "Capital Day"},
    {"date": "2026-10-26", "why": "Republic Day: 25 Oct is a Sunday"},
    {"date": "2026-12-16", "why": "Independence Day"}],
  "working_weekends": [],
  "working_days": 247}',
 '{"act": "Закон Республики Казахстан «О праздниках в Республике Казахстан»", "number": "267-II", "date": "2001-12-13", "url": "https://adilet.zan.kz/rus/docs/Z010000267_"}',
 'Correction: the Constitution adopted at the referendum of 15 March 2026 (in force 1 July 2026) moves Constitution Day to 15 March; the Ministry of Labour (taspanews, 18.03.2026): «с этого года 30 августа больше не считается Днем Конституции… Официально казахстанцы начнут отмечать его с 2027 года». So Monday 31 August 2026 is a working day and the year has 247 working days (the Ministry''s 246 counted it). The other days off as the egov calendar gives them (alau.kz, 02.01.2026).', 'migration 0003'),
('calendar', '2027-01-01', '{"days_off": [{"date": "2027-01-01", "why": "New Year"},
    {"date": "2027-01-04", "why": "New Year: 2 Jan is a Saturday"},
    {"date": "2027-01-07", "why": "Orthodox Christmas"},
    {"date": "2027-03-08", "why": "International Women''s Day"},
    {"date": "2027-03-15", "why": "Constitution Day (from 2027; the Constitution adopted on 15 March 2026)"},
    {"date": "2027-03-22", "why": "Nauryz"},
    {"date": "2027-03-23", "why": "Nauryz"},
    {"date": "2027-03-24", "why": "Nauryz: 21 Mar is a Sunday"},
    {"date": "2027-05-03", "why": "Unity Day: 1 May is a Saturday"},
    {"date": "2027-05-07", "why": "Defender of the Fatherland Day"},
    {"date": "2027-05-10", "why": "Victory Day: 9 May is a Sunday"},
    {"date": "2027-07-06", "why": "Capital Day"},
    {"date": "2027-10-25", "why": "Republic Day"},
    {"date": "2027-12-16", "why": "Independence Day"}],
  "working_weekends": [],
  "working_days": 247}',
 '{"act": "Закон Республики Казахстан «О праздниках в Республике Казахстан»", "number": "267-II", "date": "2001-12-13", "url": "https://adilet.zan.kz/rus/docs/Z010000267_"}',
 'A holiday on a Saturday or Sunday makes the next working day a day off; the religious holidays (Orthodox Christmas, Kurban Ait) are not moved. Statutory days off only: the transfers for 2027 are not published yet; publish a correction when they are. Constitution Day is 15 March from 2027 (the Constitution of 15 March 2026; the Ministry of Labour, taspanews 18.03.2026), no longer 30 August. Kurban Ait 2027 is estimated on Sunday 16 May, so no weekday is off for it; publish a correction if its date is set otherwise. 247 working days, counted from these dates.', 'migration 0003');
""")


def downgrade() -> None:
    raise NotImplementedError("forward-only migrations")
