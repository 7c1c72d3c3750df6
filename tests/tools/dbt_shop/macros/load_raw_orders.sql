{# The source table the shop reads; with var("broken") an order lost its customer and one
   amount went negative. #}
{% macro load_raw_orders() %}
create schema if not exists raw;
create or replace table raw.orders as
select * from (values
  (1, 1, 10.0),
  (2, {{ 'null' if var('broken', false) else '2' }}, 20.0),
  (3, 2, {{ '-5.0' if var('broken', false) else '5.0' }})
) as t(order_id, customer_id, amount)
{% endmacro %}
