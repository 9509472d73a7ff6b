-- Orders with the checkout page view that preceded them by at most 30
-- minutes. An interval join on event time: both sides are append-only, so
-- the result is too, and Flink drops the page views the join can no longer
-- match once the watermark passes them.
INSERT INTO `orders_attributed`
SELECT
  o.`order_id`,
  o.`customer_id`,
  o.`amount`,
  o.`currency`,
  v.`page_id`  AS `checkout_page`,
  v.`referrer` AS `referrer`,
  o.`order_time`
FROM `orders` AS o
JOIN `kafka`.`clickstream`.`checkout_pageviews` AS v
  ON o.`customer_id` = v.`user_id`
 AND v.`view_time` BETWEEN o.`order_time` - INTERVAL '30' MINUTE AND o.`order_time`;
