select customer_name, sum(amount) as revenue
from {{ ref('orders_enriched') }}
group by customer_name
