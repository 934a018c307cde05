-- TMS schema 5 (SQLite): Umrah groups, families, pilgrims, rooms.
-- Every table leads with tenant_id; keys are (tenant_id, id). Dates are ISO 8601 text
-- (YYYY-MM-DD), times integer microseconds. Families,
-- pilgrims and rooms repeat their group's branch_id (a group never changes
-- branch) so that every operational row carries its branch.
--
-- umrah_groups.package_id has NO foreign key yet: the catalogue (packages)
-- is built on another branch of the work; the foreign key to
-- packages (tenant_id, id) is added when both are merged.
-- pilgrims.client_id likewise has no foreign key to clients yet.

CREATE TABLE umrah_groups (
    tenant_id          BLOB        NOT NULL REFERENCES tenants (tenant_id),
    id                 BLOB        NOT NULL,
    branch_id          BLOB        NOT NULL,
    name               TEXT        NOT NULL,
    season             TEXT        NOT NULL,
    package_id         BLOB,
    departure_date     TEXT        NOT NULL,
    return_date        TEXT        NOT NULL,
    leader_pilgrim_id  BLOB,
    leader_name        TEXT,
    capacity           INTEGER      NOT NULL CHECK (capacity BETWEEN 1 AND 1000),
    status             TEXT        NOT NULL,
    created_at         INTEGER     NOT NULL,
    version            INTEGER      NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, branch_id) REFERENCES branches (tenant_id, id),
    CHECK (return_date > departure_date)
) STRICT;
CREATE INDEX umrah_groups_by_created ON umrah_groups (tenant_id, created_at, id);
CREATE INDEX umrah_groups_by_branch ON umrah_groups (tenant_id, branch_id, created_at, id);

CREATE TABLE umrah_families (
    tenant_id        BLOB        NOT NULL,
    id               BLOB        NOT NULL,
    group_id         BLOB        NOT NULL,
    branch_id        BLOB        NOT NULL,
    name             TEXT        NOT NULL,
    head_pilgrim_id  BLOB,
    created_at       INTEGER     NOT NULL,
    version          INTEGER      NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES umrah_groups (tenant_id, id)
) STRICT;
CREATE INDEX umrah_families_by_group ON umrah_families (tenant_id, group_id, created_at, id);

CREATE TABLE pilgrims (
    tenant_id        BLOB        NOT NULL,
    id               BLOB        NOT NULL,
    group_id         BLOB        NOT NULL,
    branch_id        BLOB        NOT NULL,
    family_id        BLOB,
    name             TEXT        NOT NULL,
    latin_name       TEXT        NOT NULL,
    gender           TEXT        NOT NULL,
    date_of_birth    TEXT        NOT NULL,
    nationality      TEXT        NOT NULL,
    passport_number  BLOB        NOT NULL,
    passport_index   BLOB        NOT NULL,
    passport_hint    TEXT        NOT NULL,
    passport_expiry  TEXT        NOT NULL,
    visa_status      TEXT        NOT NULL,
    visa_number      TEXT,
    client_id        BLOB,
    mahram_id        BLOB,
    mahram_relation  TEXT,
    created_at       INTEGER     NOT NULL,
    version          INTEGER      NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES umrah_groups (tenant_id, id),
    FOREIGN KEY (tenant_id, family_id) REFERENCES umrah_families (tenant_id, id)
) STRICT;
CREATE INDEX pilgrims_by_group ON pilgrims (tenant_id, group_id, created_at, id);
CREATE INDEX pilgrims_by_family ON pilgrims (tenant_id, family_id);
CREATE INDEX pilgrims_by_passport ON pilgrims (tenant_id, passport_index);

CREATE TABLE umrah_rooms (
    tenant_id    BLOB        NOT NULL,
    id           BLOB        NOT NULL,
    group_id     BLOB        NOT NULL,
    branch_id    BLOB        NOT NULL,
    hotel        TEXT        NOT NULL,
    city         TEXT        NOT NULL,
    room_type    TEXT        NOT NULL,
    room_number  TEXT,
    created_at   INTEGER     NOT NULL,
    version      INTEGER      NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES umrah_groups (tenant_id, id),
    UNIQUE (tenant_id, group_id, city, hotel, room_number)
) STRICT;
CREATE INDEX umrah_rooms_by_group ON umrah_rooms (tenant_id, group_id, created_at, id);

-- One room per pilgrim per city: the primary key says so.
CREATE TABLE umrah_room_assignments (
    tenant_id   BLOB        NOT NULL,
    pilgrim_id  BLOB        NOT NULL,
    city        TEXT        NOT NULL,
    room_id     BLOB        NOT NULL,
    group_id    BLOB        NOT NULL,
    created_at  INTEGER     NOT NULL,
    PRIMARY KEY (tenant_id, pilgrim_id, city),
    FOREIGN KEY (tenant_id, room_id) REFERENCES umrah_rooms (tenant_id, id),
    FOREIGN KEY (tenant_id, pilgrim_id) REFERENCES pilgrims (tenant_id, id)
) STRICT;
CREATE INDEX umrah_room_assignments_by_room ON umrah_room_assignments (tenant_id, room_id);
CREATE INDEX umrah_room_assignments_by_group ON umrah_room_assignments (tenant_id, group_id);
