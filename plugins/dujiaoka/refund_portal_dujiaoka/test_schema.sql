-- Our own DDL for tests: the subset of dujiaoka's orders, goods, pays and carmis tables the
-- connector reads, with dujiaoka's column names and types (facts in docs/connect-dujiaoka.md).
-- Written to run on both MySQL/MariaDB and SQLite. dujiaoka has no index on updated_at.
CREATE TABLE goods (
  id int NOT NULL PRIMARY KEY,
  group_id int NOT NULL,
  gd_name varchar(200) NOT NULL,
  gd_description varchar(200) NOT NULL,
  gd_keywords varchar(200) NOT NULL,
  retail_price decimal(10,2) DEFAULT '0.00',
  actual_price decimal(10,2) NOT NULL DEFAULT '0.00',
  type tinyint(1) NOT NULL DEFAULT '1',
  is_open tinyint(1) NOT NULL DEFAULT '1',
  created_at timestamp NULL DEFAULT NULL,
  updated_at timestamp NULL DEFAULT NULL,
  deleted_at timestamp NULL DEFAULT NULL
);
CREATE TABLE pays (
  id int NOT NULL PRIMARY KEY,
  pay_name varchar(200) NOT NULL,
  pay_check varchar(50) NOT NULL UNIQUE,
  pay_method tinyint(1) NOT NULL,
  pay_client tinyint(1) NOT NULL DEFAULT '1',
  pay_handleroute varchar(200) NOT NULL,
  is_open tinyint(1) NOT NULL DEFAULT '1',
  created_at timestamp NULL DEFAULT NULL,
  updated_at timestamp NULL DEFAULT NULL,
  deleted_at timestamp NULL DEFAULT NULL
);
CREATE TABLE carmis (
  id bigint NOT NULL PRIMARY KEY,
  goods_id int NOT NULL,
  status tinyint(1) NOT NULL DEFAULT '1',
  is_loop tinyint(1) NOT NULL DEFAULT '0',
  carmi text NOT NULL,
  created_at timestamp NULL DEFAULT NULL,
  updated_at timestamp NULL DEFAULT NULL,
  deleted_at timestamp NULL DEFAULT NULL
);
CREATE TABLE orders (
  id bigint NOT NULL PRIMARY KEY,
  order_sn varchar(150) NOT NULL UNIQUE,
  goods_id int NOT NULL,
  coupon_id int DEFAULT '0',
  title varchar(200) NOT NULL,
  type tinyint(1) NOT NULL DEFAULT '1',
  goods_price decimal(10,2) NOT NULL DEFAULT '0.00',
  buy_amount int NOT NULL DEFAULT '1',
  coupon_discount_price decimal(10,2) NOT NULL DEFAULT '0.00',
  wholesale_discount_price decimal(10,2) NOT NULL DEFAULT '0.00',
  total_price decimal(10,2) NOT NULL DEFAULT '0.00',
  actual_price decimal(10,2) NOT NULL DEFAULT '0.00',
  search_pwd varchar(200) DEFAULT '',
  email varchar(200) NOT NULL,
  info text,
  pay_id int DEFAULT NULL,
  buy_ip varchar(50) NOT NULL,
  trade_no varchar(200) DEFAULT '',
  status tinyint(1) NOT NULL DEFAULT '1',
  coupon_ret_back tinyint(1) NOT NULL DEFAULT '0',
  created_at timestamp NULL DEFAULT NULL,
  updated_at timestamp NULL DEFAULT NULL,
  deleted_at timestamp NULL DEFAULT NULL
);
