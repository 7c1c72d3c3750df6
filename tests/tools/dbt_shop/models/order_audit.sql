-- Fails to build while the source is broken (a column the broken load lacks).
select order_id, {{ 'missing_column' if var('broken', false) else 'amount' }} as amount
from {{ ref('stg_orders') }}
