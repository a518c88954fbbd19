//! The application: how a block changes the state.
//!
//! Order within block `H` (all of it deterministic: no clock, no randomness,
//! only ordered maps):
//! 1. evidence, in block order: checked, then slash, jail, tombstone;
//! 2. transactions, in block order ([`App::deliver_tx`]);
//! 3. end of block: the block's fees go to the proposer's operator account,
//!    unbonding entries completing at `H` pay out, and the next active
//!    validator set is computed ([`App::end_block`]).
//!
//! Every rule reads the parameters in force at the start of the block; an
//! UpdateParams in block `H` takes effect from block `H + 1`.

use std::collections::BTreeMap;

use cairn_types::crypto::{Address, PublicKey};
use cairn_types::evidence::Evidence;
use cairn_types::params::{ChainParams, PPM};
use cairn_types::tx::{Msg, PutCondition, Tx};
use cairn_types::validator::ValidatorSet;
use cairn_types::{Hash, Time};

use crate::db::{CF_HEIGHTS, CF_VALSETS, hkey};
use crate::error::StateError;
use crate::keys;
use crate::model::{
    Account, ActiveMember, Delegation, Event, EvidenceOutcome, SupplyLedger, TxResult,
    UnbondingEntry, ValidatorRecord, codes,
};
use crate::overlay::Overlay;
use crate::store::HeightRecord;

/// Longest validator moniker, in bytes.
pub const MAX_MONIKER_BYTES: usize = 64;

/// What a block's execution needs besides the state.
pub(crate) struct BlockContext<'a> {
    pub(crate) chain_id: &'a str,
    pub(crate) height: u64,
    pub(crate) time: Time,
    pub(crate) proposer: Address,
    pub(crate) params: &'a ChainParams,
    pub(crate) verify_signatures: bool,
}

/// Why a message failed: a result code for the tx, or a fatal storage error.
enum Fail {
    Tx(u32, String),
    Fatal(StateError),
}

impl From<StateError> for Fail {
    fn from(e: StateError) -> Fail {
        Fail::Fatal(e)
    }
}

fn fail<T>(code: u32, log: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Tx(code, log.into()))
}

fn no_effect(code: u32, log: impl Into<String>, events: Vec<Event>) -> TxResult {
    TxResult {
        code,
        log: log.into(),
        events,
    }
}

/// One block's execution over an [`Overlay`].
pub(crate) struct App<'a> {
    pub(crate) ov: Overlay<'a>,
    ctx: BlockContext<'a>,
    fees: u64,
    /// Parameters written by an UpdateParams in this block (in force from `H + 1`).
    pub(crate) new_params: Option<ChainParams>,
}

impl<'a> App<'a> {
    pub(crate) fn new(ov: Overlay<'a>, ctx: BlockContext<'a>) -> App<'a> {
        App {
            ov,
            ctx,
            fees: 0,
            new_params: None,
        }
    }

    // ---- small typed accessors -------------------------------------------------

    pub(crate) fn account(&mut self, a: &Address) -> Result<Account, StateError> {
        Ok(self.ov.get_t(&keys::account(a))?.unwrap_or_default())
    }

    pub(crate) fn set_account(&mut self, a: &Address, acct: &Account) -> Result<(), StateError> {
        self.ov.put_t(keys::account(a), acct)
    }

    fn validator(&mut self, operator: &Address) -> Result<Option<ValidatorRecord>, StateError> {
        self.ov.get_t(&keys::validator(operator))
    }

    fn set_validator(&mut self, rec: &ValidatorRecord) -> Result<(), StateError> {
        self.ov.put_t(keys::validator(&rec.operator), rec)
    }

    fn delegation(
        &mut self,
        val: &Address,
        del: &Address,
    ) -> Result<Option<Delegation>, StateError> {
        self.ov.get_t(&keys::delegation(val, del))
    }

    fn is_admin(&mut self, a: &Address) -> Result<bool, StateError> {
        Ok(self.ov.get(&keys::admin(a))?.is_some())
    }

    fn is_permitted(&mut self, a: &Address) -> Result<bool, StateError> {
        Ok(self.ov.get(&keys::permit(a))?.is_some())
    }

    fn self_tokens(&mut self, rec: &ValidatorRecord) -> Result<u64, StateError> {
        let shares = self
            .delegation(&rec.operator, &rec.operator)?
            .map_or(0, |d| d.shares);
        Ok(rec.tokens_for(shares))
    }

    fn burn(&mut self, amount: u64) -> Result<(), StateError> {
        if amount == 0 {
            return Ok(());
        }
        let mut ledger: SupplyLedger = self.ov.get_t(keys::SUPPLY)?.unwrap_or_default();
        ledger.burned = ledger.burned.saturating_add(amount);
        self.ov.put_t(keys::SUPPLY.to_vec(), &ledger)
    }

    // ---- evidence ----------------------------------------------------------------

    /// Checks and executes one piece of evidence; refused evidence changes nothing.
    pub(crate) fn apply_evidence(&mut self, ev: &Evidence) -> Result<EvidenceOutcome, StateError> {
        let mut outcome = EvidenceOutcome {
            hash: ev.hash(),
            validator: ev.validator(),
            slashed: 0,
            log: String::new(),
        };
        match self.check_evidence(ev)? {
            Err(why) => outcome.log = why,
            Ok(operator) => {
                outcome.slashed = self.slash(&operator, ev.height())?;
                outcome.log = "ok".into();
            }
        }
        Ok(outcome)
    }

    /// The operator to punish, or why the evidence is refused.
    fn check_evidence(&mut self, ev: &Evidence) -> Result<Result<Address, String>, StateError> {
        let Evidence::DuplicateVote(dv) = ev;
        let h = ev.height();
        let db = self.ov.db();
        let Some(set) = db.get_t::<ValidatorSet>(CF_VALSETS, &hkey(h))? else {
            return Ok(Err(format!("no validator set retained for height {h}")));
        };
        if let Err(e) = dv.verify(
            self.ctx.chain_id,
            &set,
            &self.ctx.params.consensus,
            self.ctx.height,
            self.ctx.time,
        ) {
            return Ok(Err(e.to_string()));
        }
        let Some(rec) = db.get_t::<HeightRecord>(CF_HEIGHTS, &hkey(h))? else {
            return Ok(Err(format!("no block stored at height {h}")));
        };
        if rec.time != dv.timestamp {
            return Ok(Err(format!(
                "evidence timestamp {} differs from block {h}'s time {}",
                dv.timestamp, rec.time
            )));
        }
        let Some(op) = self.ov.get(&keys::consensus(&ev.validator()))? else {
            return Ok(Err("no validator has this consensus key".into()));
        };
        let Some(operator) = keys::address_at(&op, 0) else {
            return Err(StateError::corrupt(
                "state",
                &keys::consensus(&ev.validator()),
                "bad operator",
            ));
        };
        match self.validator(&operator)? {
            None => Ok(Err("validator record is gone".into())),
            Some(v) if v.tombstoned => Ok(Err("validator already punished (tombstoned)".into())),
            Some(_) => Ok(Ok(operator)),
        }
    }

    /// Slashes the pool and the unbonding entries created at or after
    /// `infraction_height`, burns the cut, jails and tombstones. Returns the amount burned.
    fn slash(&mut self, operator: &Address, infraction_height: u64) -> Result<u64, StateError> {
        let Some(mut rec) = self.validator(operator)? else {
            return Ok(0);
        };
        let ppm = u128::from(self.ctx.params.app.double_sign_slash_ppm);
        let cut_of = |amount: u64| -> u64 {
            u64::try_from(u128::from(amount) * ppm / u128::from(PPM)).unwrap_or(amount)
        };
        let mut burned = cut_of(rec.tokens);
        rec.tokens -= burned;
        for (k, v) in self.ov.scan(&keys::unbonding_of_validator(operator))? {
            let (Some(seq), Some(completion)) = (keys::be_u64(&k, 22), keys::be_u64(&v, 0)) else {
                return Err(StateError::corrupt("state", &k, "bad unbonding index"));
            };
            let key = keys::unbonding(completion, seq);
            let Some(mut entry) = self.ov.get_t::<UnbondingEntry>(&key)? else {
                continue;
            };
            if entry.creation_height < infraction_height {
                continue;
            }
            let cut = cut_of(entry.balance);
            entry.balance -= cut;
            burned += cut;
            self.ov.put_t(key, &entry)?;
        }
        rec.slashed = rec.slashed.saturating_add(burned);
        rec.jailed = true;
        rec.tombstoned = true;
        self.set_validator(&rec)?;
        self.burn(burned)?;
        Ok(burned)
    }

    // ---- transactions ------------------------------------------------------------

    /// Executes one transaction's bytes. Never fails for the tx's sake: a bad tx
    /// gets a code; only a storage failure is an error.
    pub(crate) fn deliver_tx(&mut self, bytes: &[u8]) -> Result<TxResult, StateError> {
        let max = usize::try_from(self.ctx.params.consensus.tx_max_bytes).unwrap_or(usize::MAX);
        let tx = match Tx::decode(bytes, max, self.ctx.chain_id) {
            Ok(tx) => tx,
            Err(e) => return Ok(no_effect(codes::DECODE, e.to_string(), Vec::new())),
        };
        let sender = tx.sender();
        let tx_event = Event::new(
            "tx",
            vec![
                ("sender", sender.to_hex()),
                ("nonce", tx.body.nonce.to_string()),
                ("fee", tx.body.fee.to_string()),
                ("action", tx.body.msg.kind().to_owned()),
            ],
        );
        if self.ctx.verify_signatures
            && let Err(e) = tx.verify_signature()
        {
            return Ok(no_effect(
                codes::BAD_SIGNATURE,
                e.to_string(),
                vec![tx_event],
            ));
        }
        let mut acct = self.account(&sender)?;
        if tx.body.nonce != acct.nonce {
            let log = format!(
                "nonce {} but the account's next nonce is {}",
                tx.body.nonce, acct.nonce
            );
            return Ok(no_effect(codes::BAD_NONCE, log, vec![tx_event]));
        }
        let min_fee = self
            .ctx
            .params
            .app
            .min_fee_per_byte
            .checked_mul(bytes.len() as u64);
        match min_fee {
            Some(min) if tx.body.fee >= min => {}
            _ => {
                let log = format!(
                    "fee {} is below {} per byte x {} bytes",
                    tx.body.fee,
                    self.ctx.params.app.min_fee_per_byte,
                    bytes.len()
                );
                return Ok(no_effect(codes::FEE_TOO_LOW, log, vec![tx_event]));
            }
        }
        if acct.balance < tx.body.fee {
            let log = format!("balance {} cannot pay fee {}", acct.balance, tx.body.fee);
            return Ok(no_effect(codes::CANNOT_PAY_FEE, log, vec![tx_event]));
        }
        acct.balance -= tx.body.fee;
        acct.nonce += 1;
        self.set_account(&sender, &acct)?;
        self.fees = self.fees.saturating_add(tx.body.fee);

        self.ov.begin_tx();
        match self.exec_msg(&sender, &tx.body.msg) {
            Ok(mut events) => {
                self.ov.commit_tx();
                events.insert(0, tx_event);
                Ok(TxResult {
                    code: codes::OK,
                    log: String::new(),
                    events,
                })
            }
            Err(Fail::Tx(code, log)) => {
                self.ov.rollback_tx();
                Ok(TxResult {
                    code,
                    log,
                    events: vec![tx_event],
                })
            }
            Err(Fail::Fatal(e)) => Err(e),
        }
    }

    fn exec_msg(&mut self, sender: &Address, msg: &Msg) -> Result<Vec<Event>, Fail> {
        match msg {
            Msg::Transfer { to, amount } => self.transfer(sender, to, *amount),
            Msg::Put {
                key,
                value,
                condition,
            } => self.put(sender, key, value, condition),
            Msg::Delegate { validator, amount } => self.delegate(sender, validator, *amount),
            Msg::Undelegate { validator, amount } => self.undelegate(sender, validator, *amount),
            Msg::CreateValidator {
                consensus_key,
                node_id,
                moniker,
                self_stake,
            } => self.create_validator(sender, consensus_key, *node_id, moniker, *self_stake),
            Msg::EditValidator { moniker, node_id } => {
                let Some(mut rec) = self.validator(sender)? else {
                    return fail(codes::NOT_FOUND, "sender operates no validator");
                };
                if let Some(m) = moniker {
                    check_moniker(m)?;
                    rec.moniker = m.0.clone();
                }
                if let Some(n) = node_id {
                    rec.node_id = *n;
                }
                self.set_validator(&rec)?;
                Ok(vec![Event::new(
                    "edit_validator",
                    vec![("operator", sender.to_hex())],
                )])
            }
            Msg::Unjail => self.unjail(sender),
            Msg::PermitValidator { operator } => {
                self.require_admin(sender)?;
                if self.is_permitted(operator)? {
                    return fail(
                        codes::ALREADY_EXISTS,
                        format!("{operator} is already permitted"),
                    );
                }
                self.ov.set(keys::permit(operator), Some(Vec::new()))?;
                Ok(vec![Event::new(
                    "permit_validator",
                    vec![("operator", operator.to_hex())],
                )])
            }
            Msg::RevokeValidator { operator } => {
                self.require_admin(sender)?;
                if !self.is_permitted(operator)? {
                    return fail(codes::NOT_FOUND, format!("{operator} is not permitted"));
                }
                self.ov.delete(keys::permit(operator))?;
                Ok(vec![Event::new(
                    "revoke_validator",
                    vec![("operator", operator.to_hex())],
                )])
            }
            Msg::UpdateParams { params } => {
                self.require_admin(sender)?;
                if let Err(e) = params.validate() {
                    return fail(codes::INVALID_PARAMS, e.to_string());
                }
                self.ov.put_t(keys::PARAMS.to_vec(), params)?;
                self.new_params = Some(params.clone());
                Ok(vec![Event::new(
                    "update_params",
                    vec![("effective_height", (self.ctx.height + 1).to_string())],
                )])
            }
        }
    }

    fn require_admin(&mut self, sender: &Address) -> Result<(), Fail> {
        if self.is_admin(sender)? {
            Ok(())
        } else {
            fail(codes::UNAUTHORIZED, format!("{sender} is not an admin"))
        }
    }

    fn debit(&mut self, who: &Address, amount: u64) -> Result<(), Fail> {
        let mut a = self.account(who)?;
        if a.balance < amount {
            return fail(
                codes::INSUFFICIENT_FUNDS,
                format!("balance {} is below {amount}", a.balance),
            );
        }
        a.balance -= amount;
        self.set_account(who, &a)?;
        Ok(())
    }

    fn credit(&mut self, who: &Address, amount: u64) -> Result<(), Fail> {
        let mut a = self.account(who)?;
        let Some(b) = a.balance.checked_add(amount) else {
            return fail(codes::INVALID_MSG, "recipient balance would overflow");
        };
        a.balance = b;
        self.set_account(who, &a)?;
        Ok(())
    }

    fn transfer(&mut self, from: &Address, to: &Address, amount: u64) -> Result<Vec<Event>, Fail> {
        if amount == 0 {
            return fail(codes::INVALID_MSG, "amount must be positive");
        }
        self.debit(from, amount)?;
        self.credit(to, amount)?;
        Ok(vec![Event::new(
            "transfer",
            vec![
                ("sender", from.to_hex()),
                ("recipient", to.to_hex()),
                ("amount", amount.to_string()),
            ],
        )])
    }

    fn put(
        &mut self,
        owner: &Address,
        key: &[u8],
        value: &[u8],
        condition: &PutCondition,
    ) -> Result<Vec<Event>, Fail> {
        let app = &self.ctx.params.app;
        if key.is_empty() || key.len() > app.put_max_key_bytes as usize {
            return fail(
                codes::INVALID_MSG,
                format!(
                    "key of {} bytes; allowed 1..={}",
                    key.len(),
                    app.put_max_key_bytes
                ),
            );
        }
        if value.len() > app.put_max_value_bytes as usize {
            return fail(
                codes::INVALID_MSG,
                format!(
                    "value of {} bytes exceeds {}",
                    value.len(),
                    app.put_max_value_bytes
                ),
            );
        }
        let skey = keys::put(owner, key);
        let current = self.ov.get(&skey)?;
        let ok = match condition {
            PutCondition::Always => true,
            PutCondition::Absent => current.is_none(),
            PutCondition::Equals(expected) => current.as_deref() == Some(&expected[..]),
        };
        if !ok {
            return fail(
                codes::CONDITION_FAILED,
                "the key's current value does not meet the condition",
            );
        }
        self.ov.set(skey, Some(value.to_vec()))?;
        Ok(vec![Event::new(
            "put",
            vec![("owner", owner.to_hex()), ("key", hex::encode(key))],
        )])
    }

    fn delegate(&mut self, del: &Address, val: &Address, amount: u64) -> Result<Vec<Event>, Fail> {
        if amount == 0 {
            return fail(codes::INVALID_MSG, "amount must be positive");
        }
        let Some(mut rec) = self.validator(val)? else {
            return fail(codes::NOT_FOUND, format!("no validator operated by {val}"));
        };
        if rec.tombstoned {
            return fail(codes::VALIDATOR_STATE, "validator is tombstoned");
        }
        let shares = if rec.shares == 0 {
            u128::from(amount)
        } else if rec.tokens == 0 {
            return fail(
                codes::VALIDATOR_STATE,
                "validator's pool has no tokens left",
            );
        } else {
            u128::from(amount) * rec.shares / u128::from(rec.tokens)
        };
        if shares == 0 {
            return fail(codes::INVALID_MSG, "amount too small to buy a share");
        }
        let Some(tokens) = rec.tokens.checked_add(amount) else {
            return fail(codes::INVALID_MSG, "pool would overflow");
        };
        self.debit(del, amount)?;
        rec.tokens = tokens;
        rec.shares = rec.shares.saturating_add(shares);
        let mut d = self
            .delegation(val, del)?
            .unwrap_or(Delegation { shares: 0 });
        d.shares = d.shares.saturating_add(shares);
        self.ov.put_t(keys::delegation(val, del), &d)?;
        self.set_validator(&rec)?;
        Ok(vec![Event::new(
            "delegate",
            vec![
                ("delegator", del.to_hex()),
                ("validator", val.to_hex()),
                ("amount", amount.to_string()),
            ],
        )])
    }

    fn undelegate(
        &mut self,
        del: &Address,
        val: &Address,
        amount: u64,
    ) -> Result<Vec<Event>, Fail> {
        if amount == 0 {
            return fail(codes::INVALID_MSG, "amount must be positive");
        }
        let Some(mut d) = self.delegation(val, del)? else {
            return fail(codes::NOT_FOUND, "no delegation to this validator");
        };
        let Some(mut rec) = self.validator(val)? else {
            return fail(codes::NOT_FOUND, format!("no validator operated by {val}"));
        };
        let owned = rec.tokens_for(d.shares);
        if amount > owned {
            return fail(
                codes::INSUFFICIENT_FUNDS,
                format!("delegation is worth {owned}, cannot undelegate {amount}"),
            );
        }
        let burn_shares = if amount == owned {
            d.shares
        } else {
            // Round the shares up: the pool, not the leaver, keeps the dust.
            let num = u128::from(amount) * rec.shares;
            let den = u128::from(rec.tokens);
            num.div_ceil(den).min(d.shares)
        };
        rec.tokens -= amount;
        rec.shares -= burn_shares;
        d.shares -= burn_shares;
        if d.shares == 0 {
            self.ov.delete(keys::delegation(val, del))?;
        } else {
            self.ov.put_t(keys::delegation(val, del), &d)?;
        }
        if del == val && !rec.jailed {
            let self_left = rec.tokens_for(d.shares);
            if self_left < self.ctx.params.app.min_self_stake {
                rec.jailed = true;
            }
        }
        self.set_validator(&rec)?;
        let seq: u64 = self.ov.get_t(keys::UNBONDING_SEQ)?.unwrap_or(0);
        let completion = self
            .ctx
            .height
            .saturating_add(self.ctx.params.app.unbonding_blocks);
        let entry = UnbondingEntry {
            delegator: *del,
            validator: *val,
            creation_height: self.ctx.height,
            completion_height: completion,
            balance: amount,
        };
        self.ov.put_t(keys::unbonding(completion, seq), &entry)?;
        self.ov.set(
            keys::unbonding_by_validator(val, seq),
            Some(completion.to_be_bytes().to_vec()),
        )?;
        self.ov.put_t(keys::UNBONDING_SEQ.to_vec(), &(seq + 1))?;
        Ok(vec![Event::new(
            "undelegate",
            vec![
                ("delegator", del.to_hex()),
                ("validator", val.to_hex()),
                ("amount", amount.to_string()),
                ("completion_height", completion.to_string()),
            ],
        )])
    }

    fn create_validator(
        &mut self,
        operator: &Address,
        key: &PublicKey,
        node_id: cairn_types::NodeId,
        moniker: &cairn_types::Text,
        self_stake: u64,
    ) -> Result<Vec<Event>, Fail> {
        if !self.is_permitted(operator)? {
            return fail(
                codes::UNAUTHORIZED,
                format!("{operator} is not permitted to create a validator"),
            );
        }
        if self.validator(operator)?.is_some() {
            return fail(codes::ALREADY_EXISTS, "sender already operates a validator");
        }
        if let Err(e) = key.check_usable() {
            return fail(codes::INVALID_MSG, format!("consensus key: {e}"));
        }
        let cons = key.address();
        if self.ov.get(&keys::consensus(&cons))?.is_some() {
            return fail(
                codes::ALREADY_EXISTS,
                "consensus key already used by a validator",
            );
        }
        check_moniker(moniker)?;
        let min = self.ctx.params.app.min_self_stake;
        if self_stake < min {
            return fail(
                codes::INVALID_MSG,
                format!("self stake {self_stake} is below the minimum {min}"),
            );
        }
        self.debit(operator, self_stake)?;
        let rec = ValidatorRecord {
            operator: *operator,
            consensus_key: *key,
            node_id,
            moniker: moniker.0.clone(),
            tokens: self_stake,
            shares: u128::from(self_stake),
            jailed: false,
            tombstoned: false,
            slashed: 0,
        };
        self.set_validator(&rec)?;
        self.ov
            .set(keys::consensus(&cons), Some(operator.0.to_vec()))?;
        self.ov.put_t(
            keys::delegation(operator, operator),
            &Delegation {
                shares: u128::from(self_stake),
            },
        )?;
        Ok(vec![Event::new(
            "create_validator",
            vec![
                ("operator", operator.to_hex()),
                ("consensus_address", cons.to_hex()),
                ("self_stake", self_stake.to_string()),
            ],
        )])
    }

    fn unjail(&mut self, operator: &Address) -> Result<Vec<Event>, Fail> {
        let Some(mut rec) = self.validator(operator)? else {
            return fail(codes::NOT_FOUND, "sender operates no validator");
        };
        if rec.tombstoned {
            return fail(
                codes::VALIDATOR_STATE,
                "validator is tombstoned and cannot unjail",
            );
        }
        if !rec.jailed {
            return fail(codes::VALIDATOR_STATE, "validator is not jailed");
        }
        let own = self.self_tokens(&rec)?;
        let min = self.ctx.params.app.min_self_stake;
        if own < min {
            return fail(
                codes::VALIDATOR_STATE,
                format!("self stake {own} is below the minimum {min}"),
            );
        }
        rec.jailed = false;
        self.set_validator(&rec)?;
        Ok(vec![Event::new(
            "unjail",
            vec![("operator", operator.to_hex())],
        )])
    }

    // ---- end of block --------------------------------------------------------------

    /// Pays fees, matures unbonding entries, computes the next active set.
    /// Returns the power changes `U` and `set(H+2)` computed from `set(H+1)`.
    pub(crate) fn end_block(
        &mut self,
        next: &ValidatorSet,
    ) -> Result<(Vec<(PublicKey, u64)>, ValidatorSet), StateError> {
        // Fees to the proposer's operator; with no known operator they are burned.
        if self.fees > 0 {
            let fees = std::mem::take(&mut self.fees);
            let op = self.ov.get(&keys::consensus(&self.ctx.proposer))?;
            match op.as_deref().and_then(|b| keys::address_at(b, 0)) {
                Some(operator) => {
                    let mut a = self.account(&operator)?;
                    a.balance = a.balance.saturating_add(fees);
                    self.set_account(&operator, &a)?;
                }
                None => self.burn(fees)?,
            }
        }
        // Unbonding entries completing at this height pay out.
        for (k, v) in self.ov.scan(&keys::unbonding_at(self.ctx.height))? {
            let entry: UnbondingEntry =
                borsh::from_slice(&v).map_err(|e| StateError::corrupt("state", &k, e))?;
            let Some(seq) = keys::be_u64(&k, 10) else {
                return Err(StateError::corrupt("state", &k, "bad unbonding key"));
            };
            let mut a = self.account(&entry.delegator)?;
            a.balance = a.balance.saturating_add(entry.balance);
            self.set_account(&entry.delegator, &a)?;
            self.ov.delete(k)?;
            self.ov
                .delete(keys::unbonding_by_validator(&entry.validator, seq))?;
        }
        self.rotate_validators(next)
    }

    fn rotate_validators(
        &mut self,
        next: &ValidatorSet,
    ) -> Result<(Vec<(PublicKey, u64)>, ValidatorSet), StateError> {
        let app = &self.ctx.params.app;
        let (power_unit, min_self, max_vals) = (
            app.power_unit,
            app.min_self_stake,
            app.max_validators as usize,
        );
        let mut candidates: Vec<(u64, Address, PublicKey)> = Vec::new();
        for (k, v) in self.ov.scan(keys::VALIDATOR)? {
            let rec: ValidatorRecord =
                borsh::from_slice(&v).map_err(|e| StateError::corrupt("state", &k, e))?;
            if rec.jailed || rec.tombstoned || !self.is_permitted(&rec.operator)? {
                continue;
            }
            if self.self_tokens(&rec)? < min_self || rec.tokens / power_unit == 0 {
                continue;
            }
            candidates.push((rec.tokens, rec.consensus_address(), rec.consensus_key));
        }
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        candidates.truncate(max_vals);
        let new: BTreeMap<Address, (PublicKey, u64)> = candidates
            .into_iter()
            .map(|(tokens, addr, key)| (addr, (key, tokens / power_unit)))
            .collect();
        let old_members: Vec<ActiveMember> = self.ov.get_t(keys::ACTIVE)?.unwrap_or_default();
        let old: BTreeMap<Address, (PublicKey, u64)> = old_members
            .iter()
            .map(|m| (m.key.address(), (m.key, m.power)))
            .collect();
        let mut updates: Vec<(PublicKey, u64)> = Vec::new();
        for (addr, (key, _)) in &old {
            if !new.contains_key(addr) {
                updates.push((*key, 0));
            }
        }
        for (addr, (key, power)) in &new {
            if old.get(addr).map(|(_, p)| *p) != Some(*power) {
                updates.push((*key, *power));
            }
        }
        updates.sort_by_key(|(k, _)| k.address());
        if updates.is_empty() {
            return Ok((updates, next.advanced()));
        }
        match next.with_changes(updates.clone()) {
            Ok(set) => {
                let members: Vec<ActiveMember> = new
                    .values()
                    .map(|(key, power)| ActiveMember {
                        key: *key,
                        power: *power,
                    })
                    .collect();
                self.ov.put_t(keys::ACTIVE.to_vec(), &members)?;
                Ok((updates, set.advanced()))
            }
            // The changes would empty the set or overflow its power: the set stays
            // as it is (and so does the recorded membership), as deterministically
            // on every node.
            Err(_) => Ok((Vec::new(), next.advanced())),
        }
    }
}

fn check_moniker(m: &cairn_types::Text) -> Result<(), Fail> {
    if m.len() > MAX_MONIKER_BYTES {
        return fail(
            codes::INVALID_MSG,
            format!("moniker of {} bytes exceeds {MAX_MONIKER_BYTES}", m.len()),
        );
    }
    Ok(())
}

/// The hash a header carries as `consensus_hash`: SHA-256 of the encoded consensus parameters.
pub fn consensus_hash(params: &cairn_types::ConsensusParams) -> Hash {
    Hash::digest(&cairn_types::codec::encode(params))
}
