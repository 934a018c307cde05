-- TMS schema 5 (PostgreSQL): Umrah groups, families, pilgrims, rooms.
-- Every table leads with tenant_id; keys are (tenant_id, id). Families,
-- pilgrims and rooms repeat their group's branch_id (a group never changes
-- branch) so that every operational row carries its branch.
--
-- umrah_groups.package_id has NO foreign key yet: the catalogue (packages)
-- is built on another branch of the work; the foreign key to
-- packages (tenant_id, id) is added when both are merged.
-- pilgrims.client_id likewise has no foreign key to clients yet.

CREATE TABLE umrah_groups (
    tenant_id          uuid        NOT NULL REFERENCES tenants (tenant_id),
    id                 uuid        NOT NULL,
    branch_id          uuid        NOT NULL,
    name               text        NOT NULL,
    season             text        NOT NULL,
    package_id         uuid,
    departure_date     date        NOT NULL,
    return_date        date        NOT NULL,
    leader_pilgrim_id  uuid,
    leader_name        text,
    capacity           bigint      NOT NULL CHECK (capacity BETWEEN 1 AND 1000),
    status             text        NOT NULL,
    created_at         timestamptz NOT NULL,
    version            bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id),
    CHECK (return_date > departure_date)
);
CREATE INDEX umrah_groups_by_created ON umrah_groups (tenant_id, created_at, id);
CREATE INDEX umrah_groups_by_branch ON umrah_groups (tenant_id, branch_id, created_at, id);

CREATE TABLE umrah_families (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    group_id         uuid        NOT NULL,
    branch_id        uuid        NOT NULL,
    name             text        NOT NULL,
    head_pilgrim_id  uuid,
    created_at       timestamptz NOT NULL,
    version          bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES umrah_groups (tenant_id, id)
);
CREATE INDEX umrah_families_by_group ON umrah_families (tenant_id, group_id, created_at, id);

CREATE TABLE pilgrims (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    group_id         uuid        NOT NULL,
    branch_id        uuid        NOT NULL,
    family_id        uuid,
    name             text        NOT NULL,
    latin_name       text        NOT NULL,
    gender           text        NOT NULL,
    date_of_birth    date        NOT NULL,
    nationality      text        NOT NULL,
    passport_number  bytea       NOT NULL,
    passport_index   bytea       NOT NULL,
    passport_hint    text        NOT NULL,
    passport_expiry  date        NOT NULL,
    visa_status      text        NOT NULL,
    visa_number      text,
    client_id        uuid,
    mahram_id        uuid,
    mahram_relation  text,
    created_at       timestamptz NOT NULL,
    version          bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES umrah_groups (tenant_id, id),
    FOREIGN KEY (tenant_id, family_id) REFERENCES umrah_families (tenant_id, id)
);
CREATE INDEX pilgrims_by_group ON pilgrims (tenant_id, group_id, created_at, id);
CREATE INDEX pilgrims_by_family ON pilgrims (tenant_id, family_id);
CREATE INDEX pilgrims_by_passport ON pilgrims (tenant_id, passport_index);

CREATE TABLE umrah_rooms (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    group_id     uuid        NOT NULL,
    branch_id    uuid        NOT NULL,
    hotel        text        NOT NULL,
    city         text        NOT NULL,
    room_type    text        NOT NULL,
    room_number  text,
    created_at   timestamptz NOT NULL,
    version      bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES umrah_groups (tenant_id, id),
    UNIQUE (tenant_id, group_id, city, hotel, room_number)
);
CREATE INDEX umrah_rooms_by_group ON umrah_rooms (tenant_id, group_id, created_at, id);

-- One room per pilgrim per city: the primary key says so.
CREATE TABLE umrah_room_assignments (
    tenant_id   uuid        NOT NULL,
    pilgrim_id  uuid        NOT NULL,
    city        text        NOT NULL,
    room_id     uuid        NOT NULL,
    group_id    uuid        NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, pilgrim_id, city),
    FOREIGN KEY (tenant_id, room_id) REFERENCES umrah_rooms (tenant_id, id),
    FOREIGN KEY (tenant_id, pilgrim_id) REFERENCES pilgrims (tenant_id, id)
);
CREATE INDEX umrah_room_assignments_by_room ON umrah_room_assignments (tenant_id, room_id);
CREATE INDEX umrah_room_assignments_by_group ON umrah_room_assignments (tenant_id, group_id);
