//! The TR-064 actions of X_VoIP (the IP phones, country and area code)
//! and X_AVM-DE_OnTel (phonebooks, call barring, the call list).

use super::*;

/// X_VoIP: the IP phones and the Box's country and area code.
pub(super) fn voip_action(st: &mut State, c: &Call) -> Reply {
    match c.action {
        "X_AVM-DE_GetVoIPCommonCountryCode" => c.ok(&[
            ("NewX_AVM-DE_LKZ", st.cfg.country_code.0.clone()),
            ("NewX_AVM-DE_LKZPrefix", st.cfg.country_code.1.clone()),
        ]),
        "X_AVM-DE_GetVoIPCommonAreaCode" => c.ok(&[
            ("NewX_AVM-DE_OKZ", st.cfg.area_code.0.clone()),
            ("NewX_AVM-DE_OKZPrefix", st.cfg.area_code.1.clone()),
        ]),
        "X_AVM-DE_GetNumberOfClients" => {
            let n = st.store.with(|s| s.phones.len()).to_string();
            c.ok(&[(
                "NewX_AVM-DE_NumberOfClients",
                st.cfg.claimed_clients.clone().unwrap_or(n),
            )])
        }
        "X_AVM-DE_GetClient3" => {
            let i = c.index("NewX_AVM-DE_ClientIndex");
            match st.store.with(|s| s.phones.get(i).cloned()) {
                Some(p) => c.ok(&[
                    ("NewX_AVM-DE_ClientUsername", p.username),
                    ("NewX_AVM-DE_PhoneName", p.name),
                    ("NewX_AVM-DE_ClientId", String::new()),
                    ("NewX_AVM-DE_OutGoingNumber", String::new()),
                    ("NewX_AVM-DE_InComingNumbers", p.incoming),
                    ("NewX_AVM-DE_ExternalRegistration", "0".into()),
                    ("NewX_AVM-DE_InternalNumber", p.internal),
                    ("NewX_AVM-DE_DelayedCallNotification", "0".into()),
                ]),
                None => fault(713, "Invalid array index"),
            }
        }
        "X_AVM-DE_GetClients" => {
            let mut list = String::from("<List>");
            for (i, p) in st.store.with(|s| s.phones.clone()).iter().enumerate() {
                list.push_str(&format!(
                    "<Item><X_AVM-DE_ClientIndex>{i}</X_AVM-DE_ClientIndex><X_AVM-DE_ClientUsername>{}</X_AVM-DE_ClientUsername>\
<X_AVM-DE_PhoneName>{}</X_AVM-DE_PhoneName><X_AVM-DE_ClientId></X_AVM-DE_ClientId><X_AVM-DE_OutGoingNumber></X_AVM-DE_OutGoingNumber>\
<X_AVM-DE_InComingNumbers>{}</X_AVM-DE_InComingNumbers><X_AVM-DE_ExternalRegistration>0</X_AVM-DE_ExternalRegistration>\
<X_AVM-DE_InternalNumber>{}</X_AVM-DE_InternalNumber><X_AVM-DE_DelayedCallNotification>0</X_AVM-DE_DelayedCallNotification></Item>",
                    escape(&p.username),
                    escape(&p.name),
                    escape(&p.incoming),
                    escape(&p.internal)
                ));
            }
            list.push_str("</List>");
            c.ok(&[("NewX_AVM-DE_ClientList", list)])
        }
        "X_AVM-DE_SetClient4" => set_client(st, c),
        "X_AVM-DE_DeleteClient" => {
            let i = c.index("NewX_AVM-DE_ClientIndex");
            let removed = st
                .store
                .with(|s| (i < s.phones.len()).then(|| s.phones.remove(i)));
            match removed {
                Some(_) => c.ok(&[]),
                None => fault(713, "Invalid array index"),
            }
        }
        _ => fault(401, "Invalid Action"),
    }
}

/// X_AVM-DE_SetClient4 with the Box's checks and error codes.
pub(super) fn set_client(st: &mut State, c: &Call) -> Reply {
    let (Some(i), Some(user), Some(pw)) = (
        c.arg("NewX_AVM-DE_ClientIndex")
            .and_then(|v| v.parse::<usize>().ok()),
        c.arg("NewX_AVM-DE_ClientUsername"),
        c.arg("NewX_AVM-DE_ClientPassword"),
    ) else {
        return fault(402, "Invalid Args");
    };
    if user.len() < st.cfg.min_username || pw.len() < 8 {
        return fault(801, "String too short");
    }
    if user.len() > 64 || pw.len() > 64 {
        return fault(802, "String too long");
    }
    // FRITZBOX.md: user names of [0-9A-Za-z-._]; an IP phone's password
    // over TR-064 of letters and digits only.
    let user_ok = user
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if !user_ok || !pw.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return fault(803, "String contains invalid characters");
    }
    let refuse_in_use = st.cfg.refuse_index_in_use;
    let name = c.arg("NewX_AVM-DE_PhoneName").unwrap_or_default();
    let incoming = c.arg("NewX_AVM-DE_InComingNumbers").unwrap_or_default();
    let result = st.store.with(|s| {
        if s.phones
            .iter()
            .enumerate()
            .any(|(j, p)| j != i && p.username == user)
        {
            return Err(fault(820, "Internal Error"));
        }
        if i > s.phones.len() || (i < s.phones.len() && refuse_in_use) {
            return Err(fault(820, "Internal Error"));
        }
        let internal = if i < s.phones.len() {
            s.phones[i].internal.clone()
        } else {
            // The first free internal number of 620–629; ten at most.
            match (0..MAX_IP_PHONES)
                .map(|n| format!("**62{n}"))
                .find(|n| s.phones.iter().all(|p| p.internal != *n))
            {
                Some(n) => n,
                None => return Err(fault(820, "Internal Error")),
            }
        };
        let phone = IpPhone {
            username: user,
            password: pw,
            name,
            incoming,
            internal: internal.clone(),
        };
        // The registrar takes the new credentials at once; an overwritten
        // phone's old ones are gone with it.
        if i == s.phones.len() {
            s.phones.push(phone);
        } else {
            s.phones[i] = phone;
        }
        Ok(internal)
    });
    match result {
        Ok(internal) => c.ok(&[("NewX_AVM-DE_InternalNumber", internal)]),
        Err(refused) => refused,
    }
}

/// The name and number of a `<contact>` as SetPhonebookEntryUID and
/// SetCallBarringEntry take it; a `<uniqueid>` when it updates one.
pub(super) fn contact_of(data: &str) -> Option<(String, String, Option<u32>)> {
    let name = soap::tag_text(data, "realName")?;
    let number = soap::tag_text(data, "number")?;
    let uid = soap::tag_text(data, "uniqueid").and_then(|u| u.parse().ok());
    Some((name, number, uid))
}

/// A FRITZ!Box phonebook holds a few thousand entries at most (FRITZBOX.md).
pub(super) const MAX_ENTRIES: usize = 5000;

/// X_AVM-DE_OnTel: phonebooks and the call-barring list.
pub(super) fn ontel_action(st: &mut State, c: &Call) -> Reply {
    let base = st.base.clone();
    match c.action {
        "GetPhonebookList" => {
            let n = st.store.with(|s| s.books.len());
            let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            c.ok(&[("NewPhonebookList", ids.join(","))])
        }
        "GetPhonebook" => {
            let id = c.index("NewPhonebookID");
            match st.store.with(|s| s.books.get(id).map(|b| b.0.clone())) {
                Some(name) => c.ok(&[
                    ("NewPhonebookName", name),
                    ("NewPhonebookExtraID", String::new()),
                    ("NewPhonebookURL", format!("{base}/phonebook?id={id}")),
                ]),
                None => fault(713, "Invalid array index"),
            }
        }
        "SetPhonebookEntryUID" => {
            let id = c.index("NewPhonebookID");
            let data = c.arg("NewPhonebookEntryData").unwrap_or_default();
            let Some((name, number, uid)) = contact_of(&data) else {
                return fault(402, "Invalid Args");
            };
            let done = st.store.with(|s| {
                if id >= s.books.len() {
                    return Err(713);
                }
                let at = uid.and_then(|u| s.books[id].1.iter().position(|c| c.uid == u));
                match at {
                    Some(i) => {
                        let old = &mut s.books[id].1[i];
                        old.name = name;
                        old.number = number;
                        Ok(old.uid)
                    }
                    None if uid.is_some() => Err(714),
                    None if s.books[id].1.len() >= MAX_ENTRIES => Err(820),
                    None => {
                        let entry = s.contact(name, number);
                        s.books[id].1.push(entry.clone());
                        Ok(entry.uid)
                    }
                }
            });
            match done {
                Ok(uid) => c.ok(&[("NewPhonebookEntryUniqueID", uid.to_string())]),
                Err(713) => fault(713, "Invalid array index"),
                Err(714) => fault(714, "No matching entry found"),
                Err(_) => fault(820, "Internal Error"),
            }
        }
        "DeletePhonebookEntryUID" => {
            let id = c.index("NewPhonebookID");
            let uid = c.index("NewPhonebookEntryUniqueID");
            let done = st.store.with(|s| {
                let book = &mut s.books.get_mut(id)?.1;
                let before = book.len();
                book.retain(|c| c.uid as usize != uid);
                Some(book.len() < before)
            });
            match done {
                Some(true) => c.ok(&[]),
                Some(false) => fault(714, "No matching entry found"),
                None => fault(713, "Invalid array index"),
            }
        }
        "GetCallBarringEntryByNum" => {
            let n = c.arg("NewNumber").unwrap_or_default();
            match st
                .store
                .with(|s| s.barring.iter().find(|c| c.number == n).cloned())
            {
                Some(entry) => c.ok(&[(
                    "NewPhonebookEntryData",
                    phonebook_xml("Rufsperren", &[entry]),
                )]),
                None => fault(714, "No matching entry found"),
            }
        }
        "SetCallBarringEntry" => {
            let data = c.arg("NewPhonebookEntryData").unwrap_or_default();
            let Some((name, number, _)) = contact_of(&data) else {
                return fault(402, "Invalid Args");
            };
            // Like the Box: always adds, even a duplicate.
            let added = st.store.with(|s| {
                (s.barring.len() < MAX_ENTRIES).then(|| {
                    let entry = s.contact(name, number);
                    s.barring.push(entry.clone());
                    entry.uid
                })
            });
            match added {
                Some(uid) => c.ok(&[("NewPhonebookEntryUniqueID", uid.to_string())]),
                None => fault(820, "Internal Error"),
            }
        }
        "GetCallBarringList" => c.ok(&[("NewPhonebookURL", format!("{base}/callbarring"))]),
        "DeleteCallBarringEntryUID" => {
            let uid = c.index("NewPhonebookEntryUniqueID");
            let removed = st.store.with(|s| {
                let before = s.barring.len();
                s.barring.retain(|c| c.uid as usize != uid);
                s.barring.len() < before
            });
            if removed {
                c.ok(&[])
            } else {
                fault(714, "No matching entry found")
            }
        }
        "GetCallList" => c.ok(&[("NewCallListURL", format!("{base}/calllist?type=xml"))]),
        _ => fault(401, "Invalid Action"),
    }
}
