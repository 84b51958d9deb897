//! Reads that may write: which function calls are known to change nothing.
//!
//! A `SELECT` can write through what it calls: `nextval`, `setval`,
//! `lo_unlink`, `dblink_exec`, `pg_advisory_lock`, `GET_LOCK`,
//! `load_extension`, or any function a user defined. The classifier cannot
//! see inside a function, so it trusts only built-ins known to change no
//! data and no lock: a call to anything else, anywhere in a statement
//! (under `EXPLAIN` too, since planners may evaluate calls), makes the
//! statement *may write*, classed `write`. The lists below are the
//! built-ins of each server that read, compute or report only; volatile
//! ones that change nothing (`random()`, `now()`, `pg_sleep()`) are on
//! them, and a user-defined function never is, even one named like them
//! but qualified with another schema.

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

use crate::Dialect;
use crate::names::normalize;

/// Whether a call to `name` is known to change nothing on `dialect`'s
/// server.
pub(crate) fn reads_only(name: &ObjectName, dialect: Dialect) -> bool {
    match (dialect, name.0.as_slice()) {
        (Dialect::Postgres, [ObjectNamePart::Identifier(function)]) => postgres(function),
        (
            Dialect::Postgres,
            [
                ObjectNamePart::Identifier(schema),
                ObjectNamePart::Identifier(function),
            ],
        ) => normalize(schema, Dialect::Postgres) == "pg_catalog" && postgres(function),
        // MySQL: a qualified name is a stored function; built-ins cannot
        // be shadowed by an unqualified one.
        (Dialect::Mysql, [ObjectNamePart::Identifier(function)]) => in_list(function, MYSQL),
        (Dialect::Sqlite, [ObjectNamePart::Identifier(function)]) => in_list(function, SQLITE),
        (Dialect::Generic, [ObjectNamePart::Identifier(function)]) => {
            postgres(function) && in_list(function, MYSQL) && in_list(function, SQLITE)
        }
        _ => false,
    }
}

fn postgres(function: &Ident) -> bool {
    let name = normalize(function, Dialect::Postgres);
    listed(COMMON, &name) || listed(POSTGRES, &name)
}

/// Case-insensitive, quoted or not (MySQL and SQLite function names are).
fn in_list(function: &Ident, list: &str) -> bool {
    let name = function.value.to_ascii_lowercase();
    listed(COMMON, &name) || listed(list, &name)
}

/// Whether `name` is one of the whitespace-separated names of `list`.
fn listed(list: &str, name: &str) -> bool {
    list.split_ascii_whitespace().any(|listed| listed == name)
}

// The lists: lower-case names separated by white space, a line group each
// for dates and times, session and server information, strings, numbers,
// JSON, and arrays, aggregates and windows.

/// Read-only on all three servers.
const COMMON: &str = "
    abs avg coalesce count dense_rank first_value lag last_value lead length lower ltrim max
    min nth_value ntile nullif percent_rank rank replace round row_number rtrim substr
    substring sum trim upper cume_dist instr ceil floor mod power sqrt exp ln log log10 pi
    sign current_timestamp current_date current_time
";

const POSTGRES: &str = "
    now clock_timestamp statement_timestamp transaction_timestamp timeofday localtime
    localtimestamp date_trunc date_part date_bin extract age to_char to_date to_timestamp
    to_number make_date make_time make_timestamp make_timestamptz make_interval justify_days
    justify_hours justify_interval isfinite timezone
    current_user session_user user current_role current_schema current_schemas
    current_database current_catalog current_setting version pg_backend_pid inet_client_addr
    inet_client_port inet_server_addr inet_server_port pg_postmaster_start_time
    pg_conf_load_time pg_is_in_recovery pg_typeof pg_column_size pg_relation_size
    pg_total_relation_size pg_table_size pg_indexes_size pg_database_size pg_size_pretty
    pg_size_bytes pg_get_viewdef pg_get_indexdef pg_get_constraintdef pg_get_functiondef
    pg_get_function_arguments pg_get_function_result pg_get_expr pg_get_userbyid
    pg_get_serial_sequence pg_get_triggerdef pg_get_ruledef pg_has_role has_table_privilege
    has_schema_privilege has_database_privilege has_column_privilege has_function_privilege
    has_sequence_privilege to_regclass to_regtype to_regproc to_regprocedure to_regnamespace
    to_regrole obj_description col_description shobj_description format_type
    pg_table_is_visible pg_type_is_visible pg_function_is_visible pg_current_snapshot
    pg_sleep pg_sleep_for pg_sleep_until pg_encoding_to_char pg_char_to_encoding
    pg_client_encoding txid_current_snapshot pg_jit_available pg_listening_channels
    pg_notification_queue_usage pg_trigger_depth row_security_active pg_tablespace_location
    char_length character_length octet_length bit_length initcap left right lpad rpad btrim
    translate repeat reverse position strpos split_part concat concat_ws format quote_ident
    quote_literal quote_nullable md5 sha224 sha256 sha384 sha512 encode decode convert
    convert_from convert_to ascii chr regexp_replace regexp_match regexp_matches
    regexp_split_to_array regexp_split_to_table regexp_like regexp_count regexp_substr
    regexp_instr starts_with to_hex string_to_array string_to_table array_to_string unistr
    normalize to_ascii overlay casefold text bool int2 int4 int8 float4 float8 numeric date
    time timestamp timestamptz interval
    ceiling trunc pow cbrt degrees radians sin cos tan cot asin acos atan atan2 sinh cosh
    tanh div gcd lcm greatest least width_bucket random random_normal scale min_scale
    trim_scale factorial num_nonnulls num_nulls gen_random_uuid uuidv4 uuidv7
    to_json to_jsonb row_to_json array_to_json json_build_object jsonb_build_object
    json_build_array jsonb_build_array json_object jsonb_object json_agg jsonb_agg
    json_object_agg jsonb_object_agg json_array_length jsonb_array_length json_each
    jsonb_each json_each_text jsonb_each_text json_extract_path jsonb_extract_path
    json_extract_path_text jsonb_extract_path_text json_object_keys jsonb_object_keys
    json_array_elements jsonb_array_elements json_array_elements_text
    jsonb_array_elements_text json_typeof jsonb_typeof jsonb_set jsonb_set_lax jsonb_insert
    jsonb_pretty jsonb_strip_nulls json_strip_nulls jsonb_path_query jsonb_path_query_array
    jsonb_path_query_first jsonb_path_exists jsonb_path_match json_populate_record
    jsonb_populate_record json_populate_recordset jsonb_populate_recordset json_to_record
    jsonb_to_record json_to_recordset jsonb_to_recordset
    array_agg array_length array_lower array_upper array_ndims array_dims array_append
    array_prepend array_cat array_remove array_replace array_position array_positions
    array_fill cardinality trim_array unnest generate_series generate_subscripts string_agg
    bool_and bool_or every bit_and bit_or bit_xor stddev stddev_pop stddev_samp variance
    var_pop var_samp corr covar_pop covar_samp percentile_cont percentile_disc mode
    any_value currval lastval
";

const MYSQL: &str = "
    now curdate curtime current_timestamp localtime localtimestamp sysdate utc_timestamp
    utc_date utc_time unix_timestamp from_unixtime date_format time_format str_to_date
    date_add date_sub adddate subdate addtime subtime datediff timediff timestampdiff
    timestampadd date time timestamp year month day dayofmonth dayofweek dayofyear hour
    minute second microsecond week weekday weekofyear yearweek quarter last_day makedate
    maketime monthname dayname extract convert_tz from_days to_days to_seconds sec_to_time
    time_to_sec period_add period_diff get_format
    concat concat_ws char_length character_length octet_length bit_length lcase ucase
    substring_index left right lpad rpad repeat reverse locate position field find_in_set
    format hex unhex md5 sha1 sha sha2 to_base64 from_base64 ascii char ord space strcmp
    quote elt make_set export_set soundex regexp_replace regexp_substr regexp_instr
    regexp_like lower upper mid bin oct conv crc32 inet_aton inet_ntoa inet6_aton inet6_ntoa
    weight_string natural_sort_key
    ceiling truncate pow log2 degrees radians sin cos tan cot asin acos atan atan2 rand
    greatest least format_bytes
    ifnull if isnull interval
    json_extract json_object json_array json_arrayagg json_objectagg json_unquote
    json_contains json_contains_path json_keys json_length json_type json_valid json_set
    json_insert json_replace json_remove json_merge_patch json_merge_preserve json_merge
    json_search json_value json_quote json_depth json_pretty json_overlaps json_exists
    json_query json_compact json_detailed json_loose json_equals json_normalize json_table
    group_concat bit_and bit_or bit_xor std stddev stddev_pop stddev_samp variance var_pop
    var_samp
    database schema user current_user session_user system_user version connection_id
    found_rows row_count last_insert_id uuid uuid_short charset collation coercibility
    benchmark sleep current_role
";

const SQLITE: &str = "
    changes char concat concat_ws format glob hex ifnull iif if last_insert_rowid like
    likelihood likely octet_length printf quote random randomblob soundex sqlite_version
    sqlite_source_id total_changes typeof subtype unhex unicode unlikely zeroblob date time
    datetime julianday unixepoch strftime timediff total group_concat string_agg json jsonb
    json_array jsonb_array json_array_length json_extract jsonb_extract json_insert
    jsonb_insert json_object jsonb_object json_patch jsonb_patch json_remove jsonb_remove
    json_replace jsonb_replace json_set jsonb_set json_type json_valid json_quote
    json_group_array jsonb_group_array json_group_object jsonb_group_object json_each
    json_tree json_error_position json_pretty acos acosh asin asinh atan atan2 atanh ceiling
    cos cosh degrees log2 pow radians sin sinh tan tanh trunc generate_series median
    percentile percentile_cont percentile_disc
";

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::ast::Ident;

    fn name(parts: &[&str]) -> ObjectName {
        ObjectName(
            parts
                .iter()
                .map(|p| ObjectNamePart::Identifier(Ident::new(*p)))
                .collect(),
        )
    }

    #[test]
    fn built_ins_that_change_nothing_read_only() {
        assert!(reads_only(&name(&["now"]), Dialect::Postgres));
        assert!(reads_only(
            &name(&["pg_catalog", "LOWER"]),
            Dialect::Postgres
        ));
        assert!(reads_only(&name(&["GROUP_CONCAT"]), Dialect::Mysql));
        assert!(reads_only(&name(&["typeof"]), Dialect::Sqlite));
        assert!(reads_only(&name(&["count"]), Dialect::Generic));
    }

    #[test]
    fn writers_lockers_and_unknown_functions_may_write() {
        for (function, dialect) in [
            ("nextval", Dialect::Postgres),
            ("setval", Dialect::Postgres),
            ("set_config", Dialect::Postgres),
            ("pg_advisory_lock", Dialect::Postgres),
            ("lo_unlink", Dialect::Postgres),
            ("dblink_exec", Dialect::Postgres),
            ("my_function", Dialect::Postgres),
            ("get_lock", Dialect::Mysql),
            ("nextval", Dialect::Mysql),
            ("load_file", Dialect::Mysql),
            ("load_extension", Dialect::Sqlite),
            ("now", Dialect::Generic),
        ] {
            assert!(
                !reads_only(&name(&[function]), dialect),
                "{dialect} {function}"
            );
        }
        assert!(
            !reads_only(&name(&["public", "lower"]), Dialect::Postgres),
            "a user's lower()"
        );
        assert!(
            !reads_only(&name(&["shop", "lower"]), Dialect::Mysql),
            "a stored function"
        );
        let quoted = ObjectName(vec![ObjectNamePart::Identifier(Ident::with_quote(
            '"', "NOW",
        ))]);
        assert!(
            !reads_only(&quoted, Dialect::Postgres),
            "\"NOW\" is not now()"
        );
    }
}
