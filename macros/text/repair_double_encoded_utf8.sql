{#-
    Repair text that was encoded as UTF-8 and misread as Latin-1 twice, as the event files'
    non-ASCII text is (Björk is written "BjÃ\u0083Â¶rk"): read the code points as bytes, decode
    them as UTF-8, and do that once more. A text is repaired only when both decodings are
    valid and the result is not plain ASCII; anything else (text that was never double-encoded,
    a single misreading, a character beyond Latin-1 among the garbled ones, text longer than
    1,024 characters) is left exactly as it is. The same SQL on every engine: characters are
    taken apart with a numbers table and the bytes put back together as hexadecimal, which only
    the last step (sparkify_utf8_from_hex) turns into text in each engine's own way.
-#}

{% macro repaired_texts_ctes(relation, columns, max_length=1024) -%}
    {#- CTEs ending in `repaired_texts` (raw_text, repaired_text) for the distinct values of
        `columns` in `relation` that are double-encoded. Emits a trailing comma. -#}
repair_candidates as (
    -- every double-encoded non-ASCII character starts with U+00C3 or U+00C2
    select distinct raw_text
    from (
        {%- for column in columns %}
        select {{ column }} as raw_text from {{ relation }}
        {{- ' union all' if not loop.last }}
        {%- endfor %}
    ) as texts
    where
        (raw_text like '%Ã%' or raw_text like '%Â%')
        and length(raw_text) <= {{ max_length }}
),

repair_positions as (
    -- 1 .. max_length (generate_series' numbers are not integers everywhere)
    select cast(series.generated_number as integer) as character_position
    from ({{ dbt.generate_series(max_length) }}) as series
),

repair_characters as (
    select
        candidates.raw_text,
        positions.character_position,
        {{ sparkify_code_point('substring(candidates.raw_text, positions.character_position, 1)') }}
            as code_point
    from repair_candidates as candidates
    inner join repair_positions as positions
        on positions.character_position <= length(candidates.raw_text)
),

repair_outer as (
    select
        raw_text,
        character_position,
        code_point,
        lag(code_point) over (
            partition by raw_text order by character_position
        ) as previous_code_point,
        lead(code_point) over (
            partition by raw_text order by character_position
        ) as next_code_point
    from repair_characters
),

repair_outer_valid as (
    -- the code points are the UTF-8 bytes of Latin-1 text: ASCII, or a lead byte C2/C3
    -- followed by one continuation byte
    select raw_text
    from repair_outer
    group by raw_text
    having min(
        case
            when code_point < 128 then 1
            when code_point in (194, 195) and next_code_point between 128 and 191 then 1
            when code_point between 128 and 191 and previous_code_point in (194, 195) then 1
            else 0
        end
    ) = 1
),

repair_bytes as (
    -- that Latin-1 text, one character per byte: the bytes of the original UTF-8
    select
        outer_bytes.raw_text,
        outer_bytes.character_position,
        case
            when outer_bytes.code_point < 128 then outer_bytes.code_point
            else (outer_bytes.code_point - 192) * 64 + outer_bytes.next_code_point - 128
        end as byte_value
    from repair_outer as outer_bytes
    inner join repair_outer_valid as valid on outer_bytes.raw_text = valid.raw_text
    where outer_bytes.code_point < 128 or outer_bytes.code_point in (194, 195)
),

repair_sequences as (
    -- UTF-8 sequences: each starts at a byte that is not a continuation byte (80-BF)
    select
        raw_text,
        character_position,
        byte_value,
        lag(byte_value) over (
            partition by raw_text order by character_position
        ) as previous_byte,
        sum(case when byte_value between 128 and 191 then 0 else 1 end) over (
            partition by raw_text
            order by character_position
            rows between unbounded preceding and current row
        ) as sequence_number
    from repair_bytes
),

repair_sequence_checks as (
    select
        raw_text,
        sequence_number,
        count(*) as byte_count,
        max(case when byte_value not between 128 and 191 then byte_value end) as lead_byte,
        max(case when previous_byte >= 192 then byte_value end) as second_byte
    from repair_sequences
    group by raw_text, sequence_number
),

repair_inner_valid as (
    -- the bytes are valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF)
    -- and spell more than ASCII
    select raw_text
    from repair_sequence_checks
    group by raw_text
    having
        min(
            case
                when sequence_number = 0 then 0
                when lead_byte < 128 then case when byte_count = 1 then 1 else 0 end
                when lead_byte between 194 and 223 and byte_count = 2 then 1
                when lead_byte = 224 and byte_count = 3 and second_byte >= 160 then 1
                when lead_byte between 225 and 239 and lead_byte != 237 and byte_count = 3 then 1
                when lead_byte = 237 and byte_count = 3 and second_byte <= 159 then 1
                when lead_byte = 240 and byte_count = 4 and second_byte >= 144 then 1
                when lead_byte between 241 and 243 and byte_count = 4 then 1
                when lead_byte = 244 and byte_count = 4 and second_byte <= 143 then 1
                else 0
            end
        ) = 1
        and max(lead_byte) >= 128
),

repaired_texts as (
    select
        repair_bytes.raw_text,
        {{ sparkify_utf8_from_hex(dbt.listagg(
            "lpad(" ~ sparkify_to_hex('repair_bytes.byte_value') ~ ", 2, '0')",
            "''",
            "order by repair_bytes.character_position"
        )) }} as repaired_text
    from repair_bytes
    inner join repair_inner_valid as valid on repair_bytes.raw_text = valid.raw_text
    group by repair_bytes.raw_text
),
{%- endmacro %}

{% macro sparkify_code_point(character) -%}
    {{ return(adapter.dispatch('sparkify_code_point', 'sparkify')(character)) }}
{%- endmacro %}

{% macro default__sparkify_code_point(character) -%}
    {#- PostgreSQL (UTF8 database) and Redshift: ascii() returns the Unicode code point -#}
    ascii({{ character }})
{%- endmacro %}

{% macro duckdb__sparkify_code_point(character) -%}
    unicode({{ character }})
{%- endmacro %}

{% macro sparkify_to_hex(number) -%}
    {{ return(adapter.dispatch('sparkify_to_hex', 'sparkify')(number)) }}
{%- endmacro %}

{% macro default__sparkify_to_hex(number) -%}
    to_hex({{ number }})
{%- endmacro %}

{% macro sparkify_utf8_from_hex(hex_text) -%}
    {{ return(adapter.dispatch('sparkify_utf8_from_hex', 'sparkify')(hex_text)) }}
{%- endmacro %}

{% macro default__sparkify_utf8_from_hex(hex_text) -%}
    convert_from(decode({{ hex_text }}, 'hex'), 'UTF8')
{%- endmacro %}

{% macro duckdb__sparkify_utf8_from_hex(hex_text) -%}
    decode(unhex({{ hex_text }}))
{%- endmacro %}

{% macro redshift__sparkify_utf8_from_hex(hex_text) -%}
    from_varbyte(to_varbyte({{ hex_text }}, 'hex'), 'utf8')
{%- endmacro %}
